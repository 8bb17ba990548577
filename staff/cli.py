"""`gridlink staff add|list`: desk accounts (the first admin is made here)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from gridlink.errors import DomainError
from gridlink.settings import Settings
from staff.model import ROLES


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="staff_command", required=True)
    add = sub.add_parser("add", help="create a desk account")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--unit", required=True,
                     help="unit code: the district for an admin, a street/district center for a "
                          "dispatcher, D01… for a department, a block for a leader, a "
                          "workstation or patrol zone for a station_head")
    add.add_argument("--username", required=True)
    add.add_argument("--name", default="", help="the person's name, shown in history")
    add.add_argument("--locale", choices=["zh-CN", "en"], default=None)
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from standard input (first line) instead of a prompt")
    sub.add_parser("list", help="list desk accounts")


def read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise SystemExit("gridlink: the passwords differ")
    return first


def run(args: argparse.Namespace, settings: Settings) -> int:
    from gridlink.clock import SystemClock
    from gridlink.runtime import database_uri
    from gridlink.schema import open_database
    from staff import repository, service

    password = read_password(args) if args.staff_command == "add" else ""

    async def go(uri: str) -> int:
        async with open_database(uri, settings) as db:
            if args.staff_command == "list":
                for doc in await repository.list_accounts(db):
                    print(f"{doc['username']}\t{doc['role']}\t{doc['unit']}\t{doc.get('name', '')}")
                return 0
            try:
                account = await service.create_account(
                    db, username=args.username, password=password, role=args.role,
                    unit=args.unit, name=args.name, district=settings.district_code,
                    now=SystemClock().now(), locale=args.locale)
            except DomainError as exc:
                print(f"gridlink: {exc.message}", file=sys.stderr)
                return 2
            print(f"created {account.username} ({account.role}, {account.unit})")
            return 0

    with database_uri(settings) as uri:
        return asyncio.run(go(uri))
