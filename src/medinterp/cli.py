"""The ``medinterp`` command line."""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from medinterp.errors import ConfigError, MedinterpError


class UsageError(MedinterpError):
    """A command-line argument that cannot work; found before any work starts (exit 2)."""


# --- argument types: argparse turns their ArgumentTypeError into a usage error (exit 2) ---


def _int_at_least(minimum: int, words: str):
    """An argparse type: an integer >= ``minimum``, else ``must be a <words> integer, got <text>``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"must be a {words} integer, got {text}")
        return value

    return parse


positive_int = _int_at_least(1, "positive")
non_negative_int = _int_at_least(0, "non-negative")


def fraction(text: str) -> float:
    """A number in (0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in (0, 1], got {text}") from None
    if not (math.isfinite(value) and 0 < value <= 1):
        raise argparse.ArgumentTypeError(f"must be a number in (0, 1], got {text}")
    return value


class Parser(argparse.ArgumentParser):
    """Usage errors as one line, ``error: --batch-size must be a positive integer, got 0``, exit 2."""

    def error(self, message: str):
        if message.startswith("argument ") and ": " in message:
            name, problem = message.removeprefix("argument ").split(": ", 1)
            message = f"{name.split('/')[-1]} {problem}"
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


# --- checks of paths, before any work starts ---


def _output_file(path: str, flag: str = "--out") -> None:
    from medinterp.io import check_writable

    try:
        check_writable(path, flag)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _existing(paths: list[str], flag: str) -> None:
    for path in paths:
        if not Path(path).exists():
            raise UsageError(f"{flag} {path}: not found")


def _model(name: str) -> Path:
    from medinterp.inference.predict import resolve_model

    try:
        return resolve_model(name)
    except ConfigError as exc:
        raise UsageError(f"--model {exc}") from None


def _providers(names: list[str] | None) -> None:
    if not names:
        return
    import onnxruntime as ort

    known = ort.get_all_providers()
    for name in names:
        if name not in known:
            raise UsageError(
                f"--providers {name} is not an ONNX Runtime execution provider "
                f"(this build has: {', '.join(ort.get_available_providers())})"
            )


def _check_predict(args: argparse.Namespace) -> None:
    args.model_path = _model(args.model)
    _providers(args.providers)
    _existing(args.inputs, "input")
    if args.root is not None and not Path(args.root).is_dir():
        raise UsageError(f"--root {args.root}: not a folder")
    _output_file(args.out)
    if any(Path(args.out).resolve() == Path(p).resolve() for p in args.inputs):
        raise UsageError(f"--out {args.out} is one of the inputs; give another file name")


def _check_bench(args: argparse.Namespace) -> None:
    from medinterp.inference.predict import model_artifacts, resolve_model

    _output_file(args.out)
    _providers(args.providers)
    names = args.models or sorted(model_artifacts())
    if not names:
        raise UsageError("no models given and no model artifacts in dvc.yaml")
    args.model_paths = {}
    for name in names:
        try:
            args.model_paths[name] = resolve_model(name)
        except ConfigError as exc:
            raise UsageError(f"model {exc}") from None


def _check_card(args: argparse.Namespace) -> None:
    from medinterp.inference.predict import resolve_model

    try:
        args.model_path = resolve_model(args.model)
    except ConfigError as exc:
        raise UsageError(f"model {exc}") from None


def _check_synth(args: argparse.Namespace) -> None:
    if not (math.isfinite(args.original_resolution) and 0 <= args.original_resolution <= 1):
        raise UsageError(f"--original-resolution must be a share in [0, 1], got {args.original_resolution:g}")
    if args.original_resolution > 0 and args.datasets and "isic" not in args.datasets:
        raise UsageError("--original-resolution applies to the ISIC pictures; add isic to --datasets")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; the synthetic datasets need a folder")
    parent = out
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"--out {out}: {parent} is not a writable folder")


# --- the commands ---


def _synth(args: argparse.Namespace) -> None:
    from medinterp.synthetic.generate import DATASETS, counts_for, generate

    # Only the bundled sample is drawn the slow way, so that it stays byte for byte what data/ holds.
    fast = args.fraction is not None or args.size != "sample"
    generate(
        args.out,
        counts_for(args.size, args.fraction),
        seed=args.seed,
        jobs=args.jobs,
        datasets=tuple(args.datasets or DATASETS),
        fast=fast,
        original_resolution=args.original_resolution,
    )


def _predict(args: argparse.Namespace) -> None:
    from medinterp.inference.predict import collect_inputs, predict, write_predictions

    run = predict(args.model_path, collect_inputs(args.inputs, args.root), args.batch_size, args.providers)
    write_predictions(args.out, run)
    failed = sum(1 for p in run.predictions if p.error)
    print(
        f"{len(run.predictions)} images -> {args.out} ({run.metadata['name']}, {run.provider}, "
        f"{run.images_per_second:.1f} images/s{f', {failed} unreadable' if failed else ''})"
    )


def _bench(args: argparse.Namespace) -> None:
    from medinterp.inference.bench import run_benchmarks
    from medinterp.io import write_json

    result = run_benchmarks(args.model_paths, tuple(args.batch_sizes), args.repeats, args.providers)
    write_json(args.out, result)
    for name, model in result["models"].items():
        cells = ", ".join(
            f"{key.removeprefix('batch_')}: {row['eager_images_per_second']:.0f} -> "
            f"{row['onnxruntime_images_per_second']:.0f}"
            for key, row in model["batches"].items()
        )
        print(
            f"{name} ({model['framework']['name']} eager -> ONNX Runtime {model['provider']}, "
            f"images/s by batch) {cells}"
        )
    print(f"-> {args.out}")


def _card(args: argparse.Namespace) -> None:
    import json

    from medinterp.export import metadata
    from medinterp.export.card import markdown

    meta = metadata.read(args.model_path)
    print(json.dumps(meta, indent=2, sort_keys=True) if args.json else markdown(meta), end="\n" if args.json else "")


def build_parser() -> argparse.ArgumentParser:
    debug_help = "show the traceback behind an error (as MEDINTERP_DEBUG=1 does)"
    parser = Parser(prog="medinterp", description=__doc__)
    parser.add_argument("--debug", action="store_true", help=debug_help)
    common = Parser(add_help=False)  # --debug after the command too; SUPPRESS keeps the one before it
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=debug_help)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    synth = commands.add_parser("synth", parents=[common], help="write synthetic datasets in their published layouts")
    synth.add_argument("--out", default="data", help="folder to write into (default: data)")
    synth.add_argument(
        "--size",
        choices=("sample", "full"),
        default="sample",
        help="sample: the bundled miniature; full: the real archives' image counts (scale tests)",
    )
    synth.add_argument(
        "--fraction", type=fraction, help="this fraction, in (0, 1], of the real counts instead of --size"
    )
    synth.add_argument("--seed", type=non_negative_int, default=0)
    synth.add_argument("--jobs", type=positive_int, default=os.cpu_count() or 1, help="parallel rendering processes")
    synth.add_argument("--datasets", nargs="+", choices=("breakhis", "brecahad", "isic"), help="default: all")
    synth.add_argument(
        "--original-resolution",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="this share, in [0, 1], of the ISIC pictures at the archives' real sizes (up to 6000x4000), "
        "to measure decode cost",
    )
    synth.set_defaults(func=_synth, check=_check_synth)

    pred = commands.add_parser(
        "predict",
        parents=[common],
        help="class probabilities from an exported ONNX model (ONNX Runtime, CUDA when available)",
    )
    pred.add_argument(
        "--model", required=True, help="an .onnx file, or an artifact name from dvc.yaml (e.g. isic-binary-classifier)"
    )
    pred.add_argument(
        "inputs", nargs="+", help="image files, folders (searched recursively), or CSV files with an 'image' column"
    )
    pred.add_argument("--root", help="folder the paths in a CSV are relative to (default: the CSV's folder)")
    pred.add_argument("--out", default="predictions.csv", help="CSV to write (default: predictions.csv)")
    pred.add_argument("--batch-size", type=positive_int, default=32)
    pred.add_argument(
        "--providers",
        nargs="+",
        help="ONNX Runtime execution providers in order (default: CUDA if available, else CPU)",
    )
    pred.set_defaults(func=_predict, check=_check_predict)

    bench = commands.add_parser(
        "bench", parents=[common], help="ONNX Runtime against the framework's eager inference, same model and inputs"
    )
    bench.add_argument(
        "models", nargs="*", help=".onnx files or artifact names (default: every model artifact in dvc.yaml)"
    )
    bench.add_argument("--batch-sizes", nargs="+", type=positive_int, default=[1, 8, 32])
    bench.add_argument(
        "--repeats", type=positive_int, default=5, help="timed batches per measurement (the median is kept)"
    )
    bench.add_argument(
        "--providers", nargs="+", help="ONNX Runtime execution providers (default: CUDA if available, else CPU)"
    )
    bench.add_argument("--out", default="metrics/bench.json")
    bench.set_defaults(func=_bench, check=_check_bench)

    card = commands.add_parser("card", parents=[common], help="an exported model's card (its metadata) as Markdown")
    card.add_argument("model", help="an .onnx file, or an artifact name from dvc.yaml (e.g. isic-binary-classifier)")
    card.add_argument("--json", action="store_true", help="the metadata as JSON instead (what the file carries)")
    card.set_defaults(func=_card, check=_check_card)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit code: 0, 2 for a bad argument or input (argparse raises
    ``SystemExit(2)`` for its own usage errors), 1 for an OSError (a full disk), 130 for Ctrl-C.
    Errors are one line on stderr; ``--debug`` or ``MEDINTERP_DEBUG=1`` adds the traceback."""
    from medinterp.io import debugging, report_error, sigterm_raises, transaction

    args = build_parser().parse_args(argv)
    debug = args.debug or debugging()
    try:
        args.check(args)
        with sigterm_raises(), transaction():  # the command's outputs: all written, or none
            args.func(args)
    except BaseException as exc:
        code = report_error(exc, debug)
        if code is None:
            raise
        return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
