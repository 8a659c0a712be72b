"""The ``medinterp`` command line."""

from __future__ import annotations

import argparse
import os
import sys

from medinterp.errors import ConfigError, MedinterpError


def _synth(args: argparse.Namespace) -> None:
    from medinterp.synthetic.generate import DATASETS, counts_for, generate

    generate(args.out, counts_for(args.size, args.fraction), seed=args.seed, jobs=args.jobs, datasets=tuple(args.datasets or DATASETS))


def _predict(args: argparse.Namespace) -> None:
    from medinterp.inference.predict import collect_inputs, predict, resolve_model, write_predictions

    model = resolve_model(args.model)
    run = predict(model, collect_inputs(args.inputs, args.root), args.batch_size, args.providers)
    write_predictions(args.out, run)
    failed = sum(1 for p in run.predictions if p.error)
    print(f"{len(run.predictions)} images -> {args.out} ({run.metadata['name']}, {run.provider}, "
          f"{run.images_per_second:.1f} images/s{f', {failed} unreadable' if failed else ''})")


def _bench(args: argparse.Namespace) -> None:
    from medinterp.inference.bench import run_benchmarks
    from medinterp.inference.predict import model_artifacts, resolve_model
    from medinterp.io import write_json

    names = args.models or sorted(model_artifacts())
    if not names:
        raise ConfigError("no models given and no model artifacts in dvc.yaml")
    result = run_benchmarks({name: resolve_model(name) for name in names}, tuple(args.batch_sizes), args.repeats, args.providers)
    write_json(args.out, result)
    for name, model in result["models"].items():
        cells = ", ".join(f"{key.removeprefix('batch_')}: {row['eager_images_per_second']:.0f} -> "
                          f"{row['onnxruntime_images_per_second']:.0f}" for key, row in model["batches"].items())
        print(f"{name} ({model['framework']['name']} eager -> ONNX Runtime {model['provider']}, images/s by batch) {cells}")
    print(f"-> {args.out}")


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

    pred = commands.add_parser("predict", help="class probabilities from an exported ONNX model (ONNX Runtime, CUDA when available)")
    pred.add_argument("--model", required=True, help="an .onnx file, or an artifact name from dvc.yaml (e.g. isic-binary-classifier)")
    pred.add_argument("inputs", nargs="+", help="image files, folders (searched recursively), or CSV files with an 'image' column")
    pred.add_argument("--root", help="folder the paths in a CSV are relative to (default: the CSV's folder)")
    pred.add_argument("--out", default="predictions.csv", help="CSV to write (default: predictions.csv)")
    pred.add_argument("--batch-size", type=int, default=32)
    pred.add_argument("--providers", nargs="+", help="ONNX Runtime execution providers in order (default: CUDA if available, else CPU)")
    pred.set_defaults(func=_predict)

    bench = commands.add_parser("bench", help="ONNX Runtime against the framework's eager inference, same model and inputs")
    bench.add_argument("models", nargs="*", help=".onnx files or artifact names (default: every model artifact in dvc.yaml)")
    bench.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 8, 32])
    bench.add_argument("--repeats", type=int, default=5, help="timed batches per measurement (the median is kept)")
    bench.add_argument("--providers", nargs="+", help="ONNX Runtime execution providers (default: CUDA if available, else CPU)")
    bench.add_argument("--out", default="metrics/bench.json")
    bench.set_defaults(func=_bench)
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
