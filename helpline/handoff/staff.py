"""Manage staff accounts of the console: ``python -m helpline.handoff.staff add|list|disable|enable|password|totp``.

The password is asked twice without echo, or read from standard input when it is not a
terminal (one line), so scripts can create accounts. It is never printed or logged. Passwords
must be at least 10 characters, not a common password and not contain the username.

``totp --username NAME`` enrols an authenticator app (recommended for supervisors): it prints the
``otpauth://`` URI once, to scan or type into the app; from then on the login also asks for the
6-digit code. ``totp --username NAME --remove`` takes it away again.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from helpline.errors import HelplineError
from helpline.handoff.accounts import ALL_ROLES, StaffAccounts
from helpline.handoff.store import HandoffStore
from helpline.settings import Settings


def _read_password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Mật khẩu (password): ")
    if getpass.getpass("Nhập lại (again): ") != first:
        raise ValueError("the two passwords differ")
    return first


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpline.handoff.staff", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="create an account")
    add.add_argument("--username", required=True)
    add.add_argument("--role", choices=ALL_ROLES, default="agent")
    sub.add_parser("list", help="list accounts")
    for name in ("disable", "enable", "password"):
        cmd = sub.add_parser(name, help=f"{name} an account" if name != "password" else "set a new password")
        cmd.add_argument("--username", required=True)
    totp = sub.add_parser("totp", help="enrol (or --remove) a TOTP authenticator for an account")
    totp.add_argument("--username", required=True)
    totp.add_argument("--remove", action="store_true")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        store = HandoffStore.from_url(settings.handoff_db_url)
        accounts = StaffAccounts(store.database)
        if args.command == "add":
            user = accounts.add_user(args.username, _read_password(), args.role)
            store.audit("cli", f"add_staff {user.username} role={user.role}")
            print(f"created {user.username} ({user.role})")
        elif args.command == "list":
            for user in accounts.list_users():
                state = "active" if user.active else "disabled"
                last = user.last_login_at.isoformat(timespec="minutes") if user.last_login_at else "-"
                print(f"{user.username:24} {user.role:11} {state:9} last login {last}")
        elif args.command == "totp":
            if args.remove:
                removed = accounts.remove_totp(args.username)
                store.audit("cli", f"remove_totp {args.username}")
                print(f"TOTP removed for {args.username}" if removed else f"{args.username} had no TOTP")
            else:
                uri = accounts.enroll_totp(args.username)
                store.audit("cli", f"enrol_totp {args.username}")
                # Printed once, for the staff member to scan; it is not stored anywhere else.
                print("Thêm vào ứng dụng xác thực / add to the authenticator app (shown once):")
                print(uri)
                print(f"from now on {args.username} needs the 6-digit code to log in; their sessions were ended")
        elif args.command == "password":
            accounts.set_password(args.username, _read_password())
            store.audit("cli", f"set_password {args.username}")
            print(f"password changed for {args.username}; their sessions were ended")
        else:
            accounts.set_active(args.username, args.command == "enable")
            store.audit("cli", f"{args.command}_staff {args.username}")
            print(f"{args.username} {args.command}d")
    except (ValueError, HelplineError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
