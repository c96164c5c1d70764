"""`python -m pithosfs ...`: the same command line as the `pithosfs` script."""

from pithosfs.cli import main

if __name__ == "__main__":
    main(prog_name="pithosfs")
