"""The ``medinterp`` command line."""

from __future__ import annotations

import argparse
import os
import sys

from medinterp.errors import MedinterpError


def _synth(args: argparse.Namespace) -> None:
    from medinterp.synthetic.generate import DATASETS, counts_for, generate

    generate(args.out, counts_for(args.size, args.fraction), seed=args.seed, jobs=args.jobs, datasets=tuple(args.datasets or DATASETS))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="medinterp", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    synth = commands.add_parser("synth", help="write synthetic datasets in their published layouts")
    synth.add_argument("--out", default="data", help="folder to write into (default: data)")
    synth.add_argument("--size", choices=("sample", "full"), default="sample",
                       help="sample: the bundled miniature; full: the real archives' image counts (scale tests)")
    synth.add_argument("--fraction", type=float, help="this fraction of the real counts instead of --size")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel rendering processes")
    synth.add_argument("--datasets", nargs="+", choices=("breakhis", "brecahad", "isic"), help="default: all")
    synth.set_defaults(func=_synth)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except MedinterpError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
