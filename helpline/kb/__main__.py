"""Knowledge-base commands.

    python -m helpline.kb validate        check content only (no model needed)
    python -m helpline.kb build [--force]  validate, embed and swap in a new index
    python -m helpline.kb review [--days N] list entries whose facts are due for a re-check
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections import Counter

from helpline.errors import HelplineError
from helpline.kb.entries import REVIEW_AFTER_DAYS, load_entries
from helpline.settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpline.kb")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("validate")
    build = sub.add_parser("build")
    build.add_argument("--force", action="store_true", help="rebuild even if the content is unchanged")
    review = sub.add_parser("review")
    review.add_argument("--days", type=int, default=REVIEW_AFTER_DAYS)
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    try:
        entries = load_entries(settings.kb_dir)
        topics = Counter(e.topic for e in entries)
        print(f"{len(entries)} entries valid in {len(topics)} topics: "
              + ", ".join(f"{t} {n}" for t, n in sorted(topics.items())))
        if args.command == "build":
            from helpline.kb.embedder import Embedder
            from helpline.kb.index import build_index

            embedder = Embedder(settings.embed_model, query_prefix=settings.embed_query_prefix,
                                doc_prefix=settings.embed_doc_prefix)
            build_index(entries, embedder, settings.index_dir, force=args.force)
        elif args.command == "review":
            today = dt.date.today()
            due = [e for e in entries if e.review_due(today, args.days)]
            for e in sorted(due, key=lambda e: e.last_checked):
                print(f"{e.last_checked}  {e.law_version:28}  {e.id}")
            print(f"{len(due)} entries due for review (last checked more than {args.days} days ago)")
    except HelplineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
