"""Image registration through the filesystem: `.register` lines, metafiles, the flow."""
