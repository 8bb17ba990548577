"""`gridlink open311-key`: create, list or revoke the API keys of Open311 client applications."""

from __future__ import annotations

import argparse
import asyncio

from gridlink.settings import Settings


def cmd_open311_key(args: argparse.Namespace, settings: Settings) -> int:
    """Create an Open311 API key (printed once; stored hashed), list keys, or revoke one."""
    from gridlink.clock import SystemClock
    from gridlink.runtime import database_uri
    from gridlink.schema import open_database
    from open311 import repository as repo

    async def run(uri: str) -> int:
        async with open_database(uri, settings) as db:
            now = SystemClock().now()
            if args.revoke:
                if await repo.revoke_key(db, key_id=args.revoke, now=now):
                    print(f"revoked {args.revoke}")
                    return 0
                print(f"no active key {args.revoke}")
                return 1
            if args.list:
                for doc in await repo.list_keys(db):
                    state = "revoked" if doc.get("revoked_at") else "active"
                    print(f"{doc['_id']}\t{state}\t{doc.get('name', '')}\t{doc['created_at']:%Y-%m-%d}")
                return 0
            if not args.name:
                print("give --name APP (or --list, --revoke ID)")
                return 2
            print(await repo.create_key(db, name=args.name, now=now))
            return 0

    with database_uri(settings) as uri:
        return asyncio.run(run(uri))


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", help="the client application the key is for")
    parser.add_argument("--list", action="store_true", help="list keys (ids, state, names)")
    parser.add_argument("--revoke", metavar="ID", help="revoke the key with this id")
