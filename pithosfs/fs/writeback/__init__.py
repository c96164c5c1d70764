"""The write path: staged files committed as hashmap PUTs (or Swift segments), and
what happens when a commit fails: the journal, its replay, refusals for good."""
