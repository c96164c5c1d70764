from pithosfs.cli import main

main()
