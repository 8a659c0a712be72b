"""The scale benchmark: the pipeline's data stages on a full-size synthetic dataset, in a scratch clone.

In ``scratch/repo`` (a ``git clone`` of this repository's committed tree) it writes
``medinterp synth --fraction F`` into ``data/`` and stops tracking the sample (``git rm data.dvc``,
as the README's real-data path does), runs ``split`` and ``prepare`` with ``data.profile: full``
and measures each one's wall time and peak memory, links the cache's copy of ``arrays/`` back
into the workspace (``dvc checkout --relink``: one copy on disk), then times a warm ``dvc status``
and a no-op ``dvc repro prepare``, then a bounded
training epoch (ResNet50 at the full profile's size) on the prepared arrays. Results go to
``metrics/scale.json`` of the repository whose code runs.

Every phase's result is saved in ``scratch/progress.json`` as it finishes, and a rerun with the same
fraction skips the phases already done, so an interrupted full run resumes where it stopped.
Commands run with this interpreter's environment (no second environment is built) and the
clone's own ``src`` first on ``PYTHONPATH``, so the clone's code is what runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from medinterp.errors import ConfigError
from medinterp.io import write_json

DEFAULT_SCRATCH = Path("/tmp/medinterp-scale")
OUT = Path("metrics/scale.json")
PROGRESS = "progress.json"
SAMPLE_INTERVAL_S = 0.5
# The full profile refuses data carrying the generator's marker (stages/split.py); the benchmark
# wants the full profile's sizes on synthetic data, so the marker waits beside the clone.
MARKER = "SYNTHETIC.json"


def machine_facts(path: Path) -> dict[str, Any]:
    """Cores, CPU model, memory and free disk where the benchmark ran."""
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    import psutil

    return {
        "cpu_model": model,
        "cpu_count": os.cpu_count(),
        "memory_gb": psutil.virtual_memory().total / 1e9,
        "disk_free_gb": shutil.disk_usage(path).free / 1e9,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def measure(command: list[str], cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    """Run ``command`` and return its wall time and peak memory: the largest single process's
    (``wait4``'s maxrss over the waited tree) and the whole process tree's summed RSS, sampled
    every :data:`SAMPLE_INTERVAL_S` (decoding workers run side by side)."""
    import psutil

    print(f"scale: {' '.join(command)}", flush=True)
    start = time.perf_counter()
    child = subprocess.Popen(command, cwd=cwd, env=env)
    peak_tree = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak_tree
        root = psutil.Process(child.pid)
        while not done.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
                peak_tree = max(peak_tree, sum(p.memory_info().rss for p in tree if p.is_running()))
            except psutil.Error:
                pass  # a process ended between listing and reading
            done.wait(SAMPLE_INTERVAL_S)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(child.pid, 0)
    done.set()
    sampler.join()
    child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    if child.returncode != 0:
        raise ConfigError(f"{' '.join(command)} exited {child.returncode} after {seconds:.0f} s (in {cwd})")
    # CPU seconds of the whole waited tree: what the wall time would be on one free core, whatever else ran
    return {
        "command": " ".join(command),
        "wall_s": seconds,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_largest_process_mb": usage.ru_maxrss / 1024,
        "peak_rss_tree_mb": peak_tree / 2**20,
    }


def disk_usage_mb(repo: Path, *names: str) -> dict[str, float]:
    """``du`` of each folder alone and of all together (a hard-linked file counts once in the total)."""

    def du(*paths: str) -> float:
        out = subprocess.run(["du", "-skc", *paths], cwd=repo, capture_output=True, text=True, check=True).stdout
        return int(out.strip().splitlines()[-1].split()[0]) / 1024

    present = [n for n in names if (repo / n).exists()]
    return {**{n: du(n) for n in present}, "together": du(*present) if present else 0.0}


def set_full_profile(params_file: Path, jobs: int) -> None:
    """``data.profile: full`` and ``prepare.jobs`` in the clone's params.yaml, comments kept."""
    from ruamel.yaml import YAML

    yaml = YAML()
    document = yaml.load(params_file)  # an edit of the clone's file: the stages still read it through the schema
    document["data"]["profile"] = "full"
    document["prepare"]["jobs"] = jobs
    yaml.dump(document, params_file)


class Run:
    """The phases of one benchmark, each done once: a result in ``progress.json`` means done."""

    def __init__(self, source: Path, scratch: Path, fraction: float, jobs: int):
        self.source, self.scratch, self.repo, self.fraction, self.jobs = (
            source,
            scratch,
            scratch / "repo",
            fraction,
            jobs,
        )
        self.progress_file = scratch / PROGRESS
        bin_dir = Path(sys.executable).parent
        self.dvc, self.medinterp = str(bin_dir / "dvc"), str(bin_dir / "medinterp")
        self.env = {
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": str(self.repo / "src"),
            "DVC_NO_ANALYTICS": "1",
        }
        self.progress = self._load_progress()

    def _load_progress(self) -> dict[str, Any]:
        if not self.progress_file.is_file():
            return {"fraction": self.fraction, "phases": {}}
        progress = json.loads(self.progress_file.read_text())
        if progress["fraction"] != self.fraction:
            raise ConfigError(
                f"{self.scratch} holds a run at fraction {progress['fraction']}, not {self.fraction}: "
                "pass --fresh or another scratch folder"
            )
        return progress

    def phase(self, name: str, work) -> dict[str, Any]:
        if name in self.progress["phases"]:
            print(f"scale: {name}: done before, kept", flush=True)
            return self.progress["phases"][name]
        result = work()
        self.progress["phases"][name] = result
        write_json(self.progress_file, self.progress)
        return result

    def dvc_cmd(self, *args: str) -> dict[str, Any]:
        return measure([self.dvc, *args], self.repo, self.env)

    def clone(self) -> dict[str, Any]:
        shutil.rmtree(self.repo, ignore_errors=True)
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=self.source, capture_output=True, text=True, check=True
        ).stdout.strip()
        result = measure(
            ["git", "clone", "--quiet", "--no-local", str(self.source), str(self.repo)], self.scratch, self.env
        )
        # linked, not copied: the cache must not hold a second copy of data/ and arrays/ (~9.5 GB at 224 px)
        subprocess.run(
            [self.dvc, "config", "--local", "cache.type", "hardlink,symlink"], cwd=self.repo, env=self.env, check=True
        )
        set_full_profile(self.repo / "params.yaml", self.jobs)
        return {**result, "commit": head}

    def synth(self) -> dict[str, Any]:
        data = self.repo / "data"
        shutil.rmtree(data, ignore_errors=True)  # a half-written dataset from an interrupted run
        result = measure(
            [self.medinterp, "synth", "--out", "data", "--fraction", str(self.fraction), "--jobs", str(self.jobs)],
            self.repo,
            self.env,
        )
        marker = json.loads((data / MARKER).read_text())
        (data / MARKER).replace(self.scratch / MARKER)
        return {**result, "synthetic": marker}

    def untrack_sample(self) -> dict[str, Any]:
        """The README's real-data step: ``data.dvc`` goes, so no DVC command walks the data folder."""
        return measure(["git", "rm", "--quiet", "data.dvc"], self.repo, self.env)

    def status_twice(self) -> dict[str, Any]:
        self.dvc_cmd("status")  # cold: builds DVC's hash and link caches
        warm = self.dvc_cmd("status")
        return {**warm, "note": "the second of two runs (warm); training stages show as changed, nothing runs"}

    def noop_repro(self) -> dict[str, Any]:
        done = subprocess.run(
            [self.dvc, "status", "split", "prepare"], cwd=self.repo, env=self.env, capture_output=True, text=True
        )
        if "changed" in done.stdout or done.returncode != 0:
            raise ConfigError(
                f"split/prepare are not current before the no-op repro: {done.stdout.strip() or done.stderr.strip()}"
            )
        return self.dvc_cmd("repro", "prepare")

    def epoch(self, batches: int, batch_size: int) -> dict[str, Any]:
        settings = {
            "arrays": str(self.repo / "arrays" / "isic_binary.npy"),
            "architecture": "resnet50",
            "batch_size": batch_size,
            "batches": batches,
            "precision": "fp32",
            "memory_format": "channels_last",
        }
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "medinterp.benchmarks.workers", "epoch", json.dumps(settings)],
            cwd=self.repo,
            env=self.env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines()
            raise ConfigError(f"training epoch failed: {lines[-1] if lines else f'exit {done.returncode}'}")
        return {**json.loads(done.stdout.strip().splitlines()[-1]), "process_wall_s": time.perf_counter() - start}


def counts(repo: Path) -> dict[str, Any]:
    """Rows per prepared table and the split stage's per-dataset reads."""
    index = json.loads((repo / "arrays" / "index.json").read_text())
    splits = json.loads((repo / "metrics" / "splits.json").read_text())
    return {
        "arrays": {table: {"rows": entry["rows"], "size": entry["size"]} for table, entry in index.items()},
        "read": splits.get("read", {}),
    }


def run(source: Path, scratch: Path, fraction: float, jobs: int, batches: int, batch_size: int) -> dict[str, Any]:
    scratch.mkdir(parents=True, exist_ok=True)
    bench = Run(source, scratch, fraction, jobs)
    phases = {
        "clone": bench.clone,
        "synth": bench.synth,
        "untrack_sample": bench.untrack_sample,
        "split": lambda: bench.dvc_cmd("repro", "split"),
        "prepare": lambda: bench.dvc_cmd("repro", "prepare"),
        "relink": lambda: bench.dvc_cmd("checkout", "--relink", "prepare"),
        "dvc_status_warm": bench.status_twice,
        "dvc_repro_noop": bench.noop_repro,
        "training_epoch": lambda: bench.epoch(batches, batch_size),
    }
    results = {name: bench.phase(name, work) for name, work in phases.items()}
    return {
        "fraction": fraction,
        "scratch": str(scratch),
        "jobs": jobs,
        "machine": machine_facts(scratch),
        "counts": counts(bench.repo),
        "disk_mb": disk_usage_mb(bench.repo, "data", "arrays", ".dvc/cache"),
        "phases": results,
    }


# The ISIC training of the full profile in image-steps (docs/scale.md): binary 5 folds x 25 epochs
# x 29,718 training images, multiclass 40 epochs x 16,211.
ISIC_IMAGE_STEPS = 5 * 25 * 29_718 + 40 * 16_211


def markdown_table(result: dict[str, Any]) -> str:
    """docs/scale.md's table from a metrics/scale.json, with the ISIC training estimate at its epoch rate."""
    phases = result["phases"]
    rows = [
        ("synth", phases["synth"]),
        ("split", phases["split"]),
        ("prepare", phases["prepare"]),
        ("dvc checkout --relink prepare", phases["relink"]),
        ("dvc status (warm)", phases["dvc_status_warm"]),
        ("dvc repro prepare (no-op)", phases["dvc_repro_noop"]),
    ]
    lines = [
        f"fraction {result['fraction']}, {result['machine']['cpu_count']} cores ({result['machine']['cpu_model']}), "
        f"prepare.jobs {result['jobs']}",
        "",
        "| step | wall time | CPU time | peak RSS, largest process | peak RSS, process tree |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {name} | {p['wall_s']:.1f} s | {p['cpu_s']:.1f} s | {p['peak_rss_largest_process_mb']:.0f} MB "
        f"| {p['peak_rss_tree_mb']:.0f} MB |"
        for name, p in rows
    ]
    epoch = phases["training_epoch"]
    rate = epoch["images_per_second"]
    lines += [
        "",
        f"training: {epoch['architecture']} {epoch['image_size']} px, batch {epoch['batch_size']}, {epoch['device']}: "
        f"{rate:.1f} images/s -> ISIC training {ISIC_IMAGE_STEPS:,} image-steps / {rate:.1f} "
        f"= {ISIC_IMAGE_STEPS / rate / 3600:.1f} h",
        "",
        "disk: " + ", ".join(f"{name} {mb / 1024:.2f} GB" for name, mb in result["disk_mb"].items()),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    from medinterp.cli import fraction, positive_int

    parser = argparse.ArgumentParser(
        description="the data stages and one bounded epoch at full scale, in a scratch clone"
    )
    parser.add_argument(
        "scratch", nargs="?", type=Path, default=DEFAULT_SCRATCH, help=f"scratch folder (default {DEFAULT_SCRATCH})"
    )
    parser.add_argument(
        "--fraction", type=fraction, default=1.0, help="share of the real archives' image counts (default 1.0)"
    )
    parser.add_argument("--jobs", type=positive_int, default=os.cpu_count() or 1, help="synth and prepare processes")
    parser.add_argument("--batches", type=positive_int, default=10, help="timed training batches (default 10)")
    parser.add_argument("--batch-size", type=positive_int, default=64, help="training batch (default 64, Table 4)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--fresh", action="store_true", help="delete the scratch folder first")
    parser.add_argument("--cleanup", action="store_true", help="delete the scratch folder after writing the results")
    parser.add_argument(
        "--table", type=Path, metavar="SCALE_JSON", help="print docs/scale.md's table from a result file and stop"
    )
    args = parser.parse_args(argv)
    if args.table:
        print(markdown_table(json.loads(args.table.read_text())))
        return

    source = Path(
        subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=True
        ).stdout.strip()
    )
    scratch = args.scratch.resolve()
    if scratch == source or source in scratch.parents:
        raise ConfigError(f"scratch folder {scratch} is inside the repository {source}: give one outside it")
    if args.fresh:
        shutil.rmtree(scratch, ignore_errors=True)
    result = run(source, scratch, args.fraction, args.jobs, args.batches, args.batch_size)
    write_json(args.out, result)
    print(f"scale: wrote {args.out}")
    if args.cleanup:
        shutil.rmtree(scratch)
        print(f"scale: removed {scratch}")


if __name__ == "__main__":
    from medinterp.benchmarks import run_script

    run_script(main)
