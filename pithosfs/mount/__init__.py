"""The mount process: the `mount`, `umount`, `status`, `journal`, `purge` and
`renew-token` commands, the daemon, its control socket, fstab and systemd glue."""
