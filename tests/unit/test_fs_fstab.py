"""mount(8) arguments -> `pithosfs mount` arguments."""

import pytest

from pithosfs.mount.fstab import translate


def test_cloud_source_and_options():
    args = translate(
        [
            "mycloud",
            "/mnt/p",
            "-o",
            "rw,noauto,user,_netdev,cache_size=4G,allow_other,x-systemd.automount",
        ]
    )
    assert args == [
        "mount",
        "/mnt/p",
        "--cloud",
        "mycloud",
        "--cache-size",
        "4G",
        "-o",
        "allow_other",
    ]


def test_default_source_and_credentials():
    args = translate(["embedded", "/mnt/p", "-ourl=http://h/identity/v2.0,token=T,verbose", "-n"])
    assert args == ["mount", "/mnt/p", "--url", "http://h/identity/v2.0", "--token", "T", "-v"]


def test_usage_error():
    with pytest.raises(SystemExit):
        translate(["/mnt/p"])
