"""`scripts/bench`: metafs measured against the same tree as plain files on a tmpfs.

`data` builds the stores and their tmpfs mirrors, `mounts` makes and always undoes every mount,
`measure` times the operations, `__main__` runs it all and prints the table.
"""
