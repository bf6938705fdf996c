"""`user` and `group` of a target, as names or ids, resolved to whom a child runs as."""

from __future__ import annotations

import grp
import os
import pwd

from supervisord_lite.core import errors
from supervisord_lite.core.model import RunAs


def resolve_user(user: str | int | None, group: str | int | None) -> RunAs | None:
    """As supervisord's `user=` and systemd's `User=`/`Group=`: the user's uid, its primary group
    (or `group`), and its supplementary groups. None when neither is named."""
    if user is None and group is None:
        return None
    try:
        entry = (
            pwd.getpwnam(user)
            if isinstance(user, str)
            else pwd.getpwuid(os.geteuid() if user is None else user)
        )
    except KeyError:
        raise errors.BadTarget(f"no such user: {user!r}") from None
    gid = entry.pw_gid
    if group is not None:
        try:
            gid = (
                grp.getgrnam(group).gr_gid if isinstance(group, str) else grp.getgrgid(group).gr_gid
            )
        except KeyError:
            raise errors.BadTarget(f"no such group: {group!r}") from None
    groups = tuple(os.getgrouplist(entry.pw_name, gid))
    return RunAs(entry.pw_uid, gid, groups)


def uid_of(user: str | int) -> int:
    if isinstance(user, int):
        return user
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        raise errors.BadTarget(f"no such user: {user!r}") from None


def gid_of(group: str | int) -> int:
    if isinstance(group, int):
        return group
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise errors.BadTarget(f"no such group: {group!r}") from None
