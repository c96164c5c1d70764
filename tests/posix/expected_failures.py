"""Cases of the POSIX suite that fail on purpose, each with its reason.

Keys are `<call>::<test name>[<parameters>]`. These run as strict expected
failures: a case listed here that passes fails the run (take it off the list),
and a case not listed that fails fails the run too.
"""

HARD_LINKS = "hard links are refused (EPERM): an object has one name on Pithos+ (SEMANTICS.md)"

EXPECTED_FAILURES: dict[str, str] = {
    "unlink::test_a_hard_linked_file_loses_one_link": HARD_LINKS,
    "link::test_link_counts_go_up_and_down": HARD_LINKS,
    "rename::test_rename_over_a_hard_link_of_itself_does_nothing": HARD_LINKS,
    **{
        f"link::test_link_adds_a_second_name[{kind}]": HARD_LINKS
        for kind in ("regular", "fifo", "block", "char", "socket", "symlink")
    },
}
