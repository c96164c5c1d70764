"""The read path: ranged GETs of one object version through the block cache, and
read-ahead across the files of a directory walk."""
