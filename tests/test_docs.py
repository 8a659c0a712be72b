"""Every command the documentation shows exists, and every link and path in it resolves.

The pages checked are ``README.md`` and ``docs/*.md``. Commands come from fenced code blocks (every
line of a ``bash``/``sh``/``shell``/``console`` block; in other blocks only lines that start with a
command below) and from inline code that starts with ``dvc ``, ``medinterp `` or ``uv run ``
(optionally after ``VAR=value`` assignments). A command is split at ``;``, ``&&``, ``||``, ``|`` and
``&``, its comment, redirections, environment assignments and ``uv run`` are dropped, and then:

- ``dvc repro|status|checkout|commit|dag|push|pull|fetch`` and ``dvc exp run``: every target that is
  not a path is a stage of ``dvc.yaml``: a plain stage, a ``foreach``/``matrix`` group name
  (``isic_binary``) or one of its entries (``isic_binary@alexnet``), the entries resolved from
  ``params.yaml`` or from a ``-S`` of the same command that sets the list;
- ``-S``/``--set-param`` keys are params: keys of ``params.yaml`` or fields of the schema
  (``medinterp.params.Params``, which also holds keys that are ``null`` in params.yaml);
- ``medinterp <subcommand>``: the subcommand is one of ``medinterp.cli.build_parser()``'s, and every
  flag shown is one of that subcommand's (or the top-level ``--debug``);
- ``python -m medinterp.<module>`` (also under ``torchrun``): the module exists in ``src/``;
- the first word after ``dvc`` is a DVC command.

Links: every relative link ``[text](path#anchor)`` points at an existing file, and an anchor into a
Markdown page at one of its headings (GitHub's slugs). Paths: every ``src/...``, ``tests/...`` and
``benchmarks/...`` named anywhere on a page exists (globs and ``{a,b}`` expanded), and so does every
inline-code path ``dir/file.py`` (at the repository root or under ``src/medinterp/``) and every
dotted name ``medinterp.a.b.name`` in inline code (the module, and the name at its top level).

Placeholders are skipped on purpose, token by token, never whole commands:

- anything with ``<...>`` in it: ``<entry>``, ``isic_binary@<entry>``, ``-S <key>=<value>``, ``<you>``;
- ``...`` (arguments left out) and shell expansions (``$m``, ``${...}``, ``$(...)``);
- bare file names without a folder (``outliers.py``: named in the context of their package).

Besides: the README stays within 250 lines, links every page of ``docs/`` (as ``docs/README.md``
does), and every figure of its results table is a cell of the committed ``metrics/report.md``.

The checker is unit-tested below on small inline pages, each with one mistake it must report.
"""

from __future__ import annotations

import argparse
import ast
import glob
import itertools
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args, get_origin

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

SHELL_BLOCKS = {"bash", "sh", "shell", "console", "zsh"}
ENV_PREFIX = r"(?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+)*"  # VAR=value assignments before a command
COMMAND_START = re.compile(r"^(?:\$\s+)?" + ENV_PREFIX + r"(?:uv run |dvc |medinterp |python -m medinterp)")
INLINE_COMMAND = re.compile(r"^" + ENV_PREFIX + r"(?:dvc |medinterp |uv run )")
SEPARATORS = {";", "&&", "||", "|", "&"}
REDIRECTIONS = {">", ">>", "<", "2>", "2>&1", "&>"}
SHELL_KEYWORDS = {"for", "while", "until", "if", "case", "done", "fi", "esac", "}", "{"}
SHELL_PREFIXES = {"do", "then", "else", "time", "env", "!"}
ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")

DVC_COMMANDS = set(
    "add artifacts cache check-ignore checkout commit completion config dag data destroy diff doctor exp experiments"
    " fetch freeze gc get get-url import import-url init install list ls ls-url metrics move params plots pull push"
    " queue remote remove repro root stage status unfreeze unprotect update version".split()
)
STAGE_TARGET_COMMANDS = {"repro", "status", "checkout", "commit", "dag", "push", "pull", "fetch"}
# options of those commands (and of `dvc exp run`) that take a value: the value is no target
DVC_VALUE_OPTIONS = set("-S --set-param -n --name -j --jobs -r --remote -m --message -C --copy-paths --rev -o".split())
UV_RUN_VALUE_OPTIONS = {"--with", "--group", "--extra", "--python", "--env-file", "--package", "--directory"}


def is_placeholder(token: str) -> bool:
    """``<entry>``-style placeholders, ``...`` and shell expansions: not checked (see the docstring)."""
    return bool(re.search(r"<[^<>]*>", token)) or "..." in token or "$" in token


@dataclass(frozen=True)
class Problem:
    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


# ------------------------------------------------------------------------------------- markdown
@dataclass(frozen=True)
class Snippet:
    line: int
    text: str
    shell: bool  # from a shell code block: every line is a command
    inline: bool = False


def split_page(text: str) -> tuple[list[Snippet], list[tuple[int, str]]]:
    """Code-block lines (continuations joined) and prose paragraphs (lines joined by spaces)."""
    code: list[Snippet] = []
    prose: list[tuple[int, str]] = []
    fence: str | None = None
    shell = False
    paragraph: list[str] = []
    start = 0
    pending = ""
    pending_line = 0
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if fence is None and re.match(r"^(`{3,}|~{3,})", stripped):
            if paragraph:
                prose.append((start, " ".join(paragraph)))
                paragraph = []
            fence = stripped[:3]
            shell = stripped[3:].strip().lower() in SHELL_BLOCKS
            continue
        if fence is not None:
            if stripped.startswith(fence):
                fence = None
                continue
            if pending:
                pending += " " + stripped
            else:
                pending, pending_line = stripped, number
            if pending.endswith("\\"):
                pending = pending[:-1].rstrip()
                continue
            code.append(Snippet(pending_line, pending, shell))
            pending = ""
            continue
        if stripped:
            if not paragraph:
                start = number
            paragraph.append(stripped)
        elif paragraph:
            prose.append((start, " ".join(paragraph)))
            paragraph = []
    if paragraph:
        prose.append((start, " ".join(paragraph)))
    return code, prose


def inline_spans(paragraph: str) -> list[str]:
    return re.findall(r"(?<!`)`([^`]+)`(?!`)", paragraph)


def strip_comment(line: str) -> str:
    """The line without its shell comment: a ``#`` that starts a word outside quotes."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line


def simple_commands(line: str) -> Iterator[list[str]]:
    """The simple commands of one shell line, as tokens (separators, redirections dropped)."""
    line = strip_comment(line.strip())
    if line.startswith("$ "):
        line = line[2:]
    tokens = shlex.split(line)
    command: list[str] = []
    skip_next = False
    for token in tokens:
        if skip_next:
            skip_next = False
            continue
        if token in SEPARATORS:
            yield command
            command = []
            continue
        if token in REDIRECTIONS:
            skip_next = True
            continue
        if token.endswith(";") and token != ";":
            command.append(token[:-1])
            yield command
            command = []
            continue
        command.append(token)
    yield command


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but ``-`` and ``_`` removed, spaces -> ``-``."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    found: set[str] = set()
    counts: dict[str, int] = {}
    in_fence = False
    for line in text.splitlines():
        if re.match(r"^\s*(`{3,}|~{3,})", line):
            in_fence = not in_fence
            continue
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match and not in_fence:
            base = slug(match.group(1))
            n = counts.get(base, 0)
            found.add(base if n == 0 else f"{base}-{n}")
            counts[base] = n + 1
    return found


# ------------------------------------------------------------------------------------- the checker
def _model_of(annotation: Any) -> Any:
    """The pydantic model class in an annotation (``Block | None`` -> ``Block``), else None."""
    if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
        return annotation
    for arg in get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _is_mapping(annotation: Any) -> bool:
    return annotation is dict or get_origin(annotation) is dict or any(_is_mapping(a) for a in get_args(annotation))


def top_level_names(path: Path) -> set[str]:
    """Names a module defines at its top level (functions, classes, assignments, imports)."""
    names: set[str] = set()
    body = list(ast.parse(path.read_text(encoding="utf-8")).body)
    while body:
        node = body.pop(0)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.If, ast.Try)):
            body.extend(node.body)
            body.extend(getattr(node, "orelse", []))
    return names


class Checker:
    """Checks pages against a pipeline (``dvc.yaml``), its params and the ``medinterp`` parser."""

    def __init__(self, root: Path, dvc_yaml: dict, params: dict, parser: argparse.ArgumentParser, schema: Any):
        self.root, self.dvc_yaml, self.params, self.schema = root, dvc_yaml, params, schema
        self.top_options = set(parser._option_string_actions)
        subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        self.subcommands = {name: set(sub._option_string_actions) for name, sub in subparsers.choices.items()}

    # --- stages
    def _resolve(self, value: Any, overrides: dict[str, Any]) -> Any:
        if isinstance(value, str):
            match = re.fullmatch(r"\$\{\s*([\w.]+)\s*\}", value)
            if match:
                key = match.group(1)
                if key in overrides:
                    return overrides[key]
                node: Any = self.params
                for part in key.split("."):
                    node = node.get(part) if isinstance(node, dict) else None
                return node
        return value

    def stage_names(self, overrides: dict[str, Any] | None = None) -> tuple[set[str], set[str]]:
        """(every stage name, with foreach/matrix entries; the foreach/matrix group names)."""
        overrides = overrides or {}
        names: set[str] = set()
        groups: set[str] = set()
        for name, stage in (self.dvc_yaml.get("stages") or {}).items():
            if "foreach" in stage:
                groups.add(name)
                items = self._resolve(stage["foreach"], overrides) or []
                keys = items.keys() if isinstance(items, dict) else items
                names.update(f"{name}@{item}" for item in keys)
            elif "matrix" in stage:
                groups.add(name)
                axes = [self._resolve(v, overrides) or [] for v in stage["matrix"].values()]
                names.update(f"{name}@{'-'.join(map(str, combo))}" for combo in itertools.product(*axes))
            else:
                names.add(name)
        return names, groups

    def check_stage(self, target: str, overrides: dict[str, Any]) -> str | None:
        target = target.rpartition(":")[2] if target.count(":") == 1 and "dvc.yaml" in target else target
        if is_placeholder(target) or "/" in target or target.endswith((".yaml", ".dvc")):
            return None
        names, groups = self.stage_names(overrides)
        if target in names or target in groups:
            return None
        group = target.partition("@")[0]
        if "@" in target and group in groups:
            entries = sorted(n.partition("@")[2] for n in names if n.startswith(group + "@"))
            return f"stage {target}: '{target.partition('@')[2]}' is not an entry of {group} ({entries})"
        return f"stage {target} is not in dvc.yaml"

    # --- params
    def param_exists(self, key: str) -> bool:
        key = key.rpartition(":")[2] if ".yaml:" in key else key
        parts = re.sub(r"\[\d+\]", "", key).split(".")
        node: Any = self.params
        for i, part in enumerate(parts):
            if isinstance(node, dict) and part in node:
                node = node[part]
                if i == len(parts) - 1:
                    return True
            else:
                break
        model: Any = self.schema
        for i, part in enumerate(parts):
            fields = {info.alias or name: info for name, info in model.model_fields.items()}
            if part not in fields:
                return False
            annotation = fields[part].annotation
            if i == len(parts) - 1:
                return True
            if _is_mapping(annotation) and _model_of(annotation) is None:
                return True  # a free-form mapping (class_weights: {MEL: ...})
            model = _model_of(annotation)
            if model is None:
                return False
        return True

    # --- commands
    def check_command(self, tokens: list[str]) -> list[str]:
        while tokens and (tokens[0] in SHELL_PREFIXES or ENV_ASSIGNMENT.match(tokens[0])):
            tokens = tokens[1:]
        if not tokens or tokens[0] in SHELL_KEYWORDS:
            return []
        if tokens[:2] == ["uv", "run"]:
            tokens = tokens[2:]
            while tokens and tokens[0].startswith("-"):
                tokens = tokens[2:] if tokens[0] in UV_RUN_VALUE_OPTIONS else tokens[1:]
        if not tokens:
            return []
        program, args = tokens[0], tokens[1:]
        if program == "dvc":
            return self.check_dvc(args)
        if program == "medinterp":
            return self.check_medinterp(args)
        if program in ("python", "python3", "torchrun") and "-m" in args:
            module = args[args.index("-m") + 1] if args.index("-m") + 1 < len(args) else ""
            return self.check_module(module)
        return []

    def check_module(self, module: str) -> list[str]:
        if not module.startswith("medinterp") or is_placeholder(module):
            return []
        base = self.root / "src" / Path(*module.split("."))
        if base.with_suffix(".py").is_file() or (base / "__main__.py").is_file() or (base / "__init__.py").is_file():
            return []
        return [f"python -m {module}: no such module in src/"]

    def check_dvc(self, args: list[str]) -> list[str]:
        if not args or args[0].startswith("-") or is_placeholder(args[0]):
            return []
        command, rest = args[0], args[1:]
        if command not in DVC_COMMANDS:
            return [f"dvc {command}: not a DVC command"]
        if command in ("exp", "experiments"):
            if not rest or rest[0] != "run":
                return []
            rest = rest[1:]
        elif command not in STAGE_TARGET_COMMANDS:
            return []
        problems: list[str] = []
        overrides: dict[str, Any] = {}
        targets: list[str] = []
        i = 0
        while i < len(rest):
            token = rest[i]
            if token in ("-S", "--set-param") or token.startswith("--set-param="):
                value = token.partition("=")[2] if token.startswith("--set-param=") else None
                if value is None:
                    i += 1
                    value = rest[i] if i < len(rest) else ""
                key, _, raw = value.partition("=")
                if not is_placeholder(key):
                    if not self.param_exists(key):
                        problems.append(f"-S {key}: not a param of params.yaml")
                    elif not is_placeholder(raw):
                        try:
                            overrides[key.rpartition(":")[2]] = yaml.safe_load(raw)
                        except yaml.YAMLError:
                            pass
            elif token in DVC_VALUE_OPTIONS:
                i += 1
            elif not token.startswith("-"):
                targets.append(token)
            i += 1
        for target in targets:
            problem = self.check_stage(target, overrides)
            if problem:
                problems.append(problem)
        return problems

    def check_medinterp(self, args: list[str]) -> list[str]:
        problems: list[str] = []
        while args and args[0].startswith("-"):
            if args[0] not in self.top_options:
                problems.append(f"medinterp {args[0]}: not an option of medinterp")
            args = args[1:]
        if not args or is_placeholder(args[0]):
            return problems
        command = args[0]
        if command not in self.subcommands:
            return [*problems, f"medinterp {command}: not a subcommand ({sorted(self.subcommands)})"]
        options = self.subcommands[command] | self.top_options
        for token in args[1:]:
            flag = token.partition("=")[0]
            if flag.startswith("-") and flag != "-" and not re.fullmatch(r"-\d[\d.]*", flag):
                if not is_placeholder(flag) and flag not in options:
                    problems.append(f"medinterp {command} {flag}: not an option of medinterp {command}")
        return problems

    # --- links and paths
    def check_links(self, text: str, page: Path) -> list[tuple[int, str]]:
        problems = []
        in_fence = False
        for number, line in enumerate(text.splitlines(), 1):
            if re.match(r"^\s*(`{3,}|~{3,})", line):
                in_fence = not in_fence
                continue
            if in_fence:
                continue
            for target in re.findall(r"\]\(([^()\s]+)\)", re.sub(r"`[^`]*`", "", line)):
                if re.match(r"^[a-z][a-z0-9+.-]*:", target) or is_placeholder(target):
                    continue
                path_part, _, anchor = target.partition("#")
                linked = (page.parent / path_part).resolve() if path_part else page
                if path_part and not linked.exists():
                    problems.append((number, f"link {target}: {path_part} does not exist"))
                    continue
                if anchor and linked.suffix == ".md":
                    content = text if linked == page else linked.read_text(encoding="utf-8")
                    if anchor not in anchors(content):
                        problems.append((number, f"link {target}: no heading #{anchor} in {linked.name}"))
        return problems

    def _exists(self, path: str) -> bool:
        for expanded in _braces(path):
            if any(ch in expanded for ch in "*?[") and glob.glob(str(self.root / expanded)):
                continue
            if not (self.root / expanded).exists():
                return False
        return True

    def check_paths(self, text: str) -> list[tuple[int, str]]:
        problems = []
        for number, line in enumerate(text.splitlines(), 1):
            for path in re.findall(r"(?<![\w./~$-])((?:src|tests|benchmarks)/[\w./*{},@-]*)", line):
                path = path.rstrip(".,")
                if is_placeholder(path) or not path or path.endswith("/") and path.count("/") == 1:
                    continue
                if not self._exists(path.rstrip("/")):
                    problems.append((number, f"path {path} does not exist"))
        return problems

    def check_inline_code(self, span: str) -> list[str]:
        problems = []
        span = span.strip()
        if re.fullmatch(r"[\w./-]+/[\w.-]+\.py", span) and not is_placeholder(span):
            if not ((self.root / span).exists() or (self.root / "src" / "medinterp" / span).exists()):
                problems.append(f"path {span} does not exist (at the root or under src/medinterp/)")
        for dotted in re.findall(r"(?<![\w.])medinterp(?:\.\w+)+", span):
            problem = self.check_dotted(dotted)
            if problem:
                problems.append(problem)
        return problems

    def check_dotted(self, dotted: str) -> str | None:
        parts = dotted.split(".")
        src = self.root / "src"
        for cut in range(len(parts), 0, -1):
            base = src.joinpath(*parts[:cut])
            module = base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py"
            if module.is_file():
                rest = parts[cut:]
                if not rest:
                    return None
                names = top_level_names(module)
                if module.name == "__init__.py":
                    names |= {p.stem for p in base.iterdir()}
                if rest[0] in names:
                    return None
                return f"{dotted}: {'.'.join(parts[:cut])} has no {rest[0]}"
        return f"{dotted}: no such module"

    # --- a page
    def check_page(self, text: str, page: Path) -> list[Problem]:
        name = page.relative_to(self.root) if page.is_relative_to(self.root) else page
        found: list[tuple[int, str]] = []
        code, prose = split_page(text)
        snippets = list(code)
        for start, paragraph in prose:
            for span in inline_spans(paragraph):
                found += [(start, p) for p in self.check_inline_code(span)]
                if INLINE_COMMAND.match(span.strip()):
                    snippets.append(Snippet(start, span, shell=True, inline=True))
        for snippet in snippets:
            if not snippet.shell and not COMMAND_START.match(snippet.text):
                continue
            try:
                commands = list(simple_commands(snippet.text))
            except ValueError as exc:
                found.append((snippet.line, f"cannot read the command {snippet.text!r}: {exc}"))
                continue
            for tokens in commands:
                found += [(snippet.line, p) for p in self.check_command(tokens)]
        found += self.check_links(text, page)
        found += self.check_paths(text)
        return [Problem(f"{name}:{line}", what) for line, what in sorted(set(found))]


def _braces(path: str) -> list[str]:
    match = re.search(r"\{([^{}]*)\}", path)
    if not match:
        return [path]
    before, after = path[: match.start()], path[match.end() :]
    return [x for option in match.group(1).split(",") for x in _braces(before + option + after)]


@pytest.fixture(scope="module")
def checker() -> Checker:
    from medinterp.cli import build_parser
    from medinterp.params import Params

    dvc_yaml = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    return Checker(REPO, dvc_yaml, params, build_parser(), Params)


# ------------------------------------------------------------------------------------- the pages
@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_documented_commands_links_and_paths_exist(checker: Checker, page: Path):
    problems = checker.check_page(page.read_text(encoding="utf-8"), page)
    assert not problems, "\n".join(map(str, problems))


def test_readme_links_every_docs_page():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    index = (REPO / "docs" / "README.md").read_text(encoding="utf-8")
    for page in sorted((REPO / "docs").glob("*.md")):
        if page.name != "README.md":
            assert f"(docs/{page.name}" in readme, f"README.md does not link docs/{page.name}"
            assert f"({page.name}" in index, f"docs/README.md does not list {page.name}"


def test_readme_is_short():
    lines = (REPO / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= 250, f"README.md has {lines} lines; move reference material to docs/"


def _numbers(text: str) -> set[str]:
    return set(re.findall(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])", text))


def test_readme_results_are_the_committed_report():
    """The README's results table shows the committed run's figures: every number in it is a cell
    of ``metrics/report.md``, so a rerun that moves the numbers makes this fail until the README follows."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Results on the sample", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| ---")][1:]
    assert len(rows) >= 10, "the results table is missing"
    report = (REPO / "metrics" / "report.md").read_text(encoding="utf-8")
    cells = {cell.strip() for line in report.splitlines() if line.startswith("|") for cell in line.split("|")}
    for row in rows:
        figures = [c.strip() for c in row.strip("|").split("|")[2:]]
        for figure in figures:
            for number in _numbers(figure):
                model = row.split("|")[2].strip()
                assert number in cells, f"README results: {number} ({model}) is not in metrics/report.md"


# ------------------------------------------------------------------------------------- the checker itself
def _check(checker: Checker, text: str) -> list[str]:
    return [p.what for p in checker.check_page(text, REPO / "docs" / "example.md")]


def test_checker_accepts_real_commands_and_placeholders(checker: Checker):
    page = "\n".join(
        [
            "```bash",
            "uv run dvc repro --pull    # the thesis's pipeline: an apostrophe in a comment",
            "uv run dvc repro isic_binary@alexnet isic_export paper_evaluate",
            "MEDINTERP_DEBUG=1 uv run dvc repro -s -f interpret_featurevis@<entry>",
            "uv run dvc exp run -S 'models=[alexnet, densenet201]' isic_binary@densenet201",
            "uv run dvc exp run -S <key>=<value> -S isic.multiclass.class_weights.MEL=0.4",
            "uv run dvc exp run -S profiles.sample.isic.image_size=32 -S 'paper.backbones=[torch-resnet50]'",
            "for m in vgg16 resnet50; do",
            '  uv run dvc exp run --queue -S "models=[$m]" -S model=$m -n model-$m',
            "done",
            "uv run medinterp --debug predict --model x.onnx a.png --batch-size 8 --out p.csv",
            "uv run python -m medinterp.params --docs > docs/params.md",
            "```",
            "",
            "Run `uv run medinterp synth --out data --fraction 0.1` or `dvc status split` after",
            "`src/medinterp/cli.py` and `medinterp.registry.lookup`; see [params](params.md#paper) and",
            "[this page](#a-heading).",
            "",
            "## A heading",
        ]
    )
    assert _check(checker, page) == []


def test_checker_reports_a_wrong_stage(checker: Checker):
    problems = _check(checker, "```bash\nuv run dvc repro isic_binaryy\nuv run dvc exp run paper_evaluate@x\n```\n")
    assert any("isic_binaryy" in p for p in problems), problems
    assert any("paper_evaluate@x" in p for p in problems), problems


def test_checker_reports_a_foreach_entry_not_in_the_list(checker: Checker):
    problems = _check(checker, "Then `uv run dvc repro isic_export@densenet201` exports it.\n")
    assert problems == [
        "stage isic_export@densenet201: 'densenet201' is not an entry of isic_export (['alexnet', 'resnet50', 'vgg16'])"
    ], problems


def test_checker_reports_a_wrong_subcommand_and_flag(checker: Checker):
    problems = _check(
        checker,
        "```\n$ uv run medinterp predikt --model m.onnx a.png\n```\n"
        "and `medinterp predict --model m.onnx --batchsize 4 a.png`\n",
    )
    assert any("predikt" in p and "not a subcommand" in p for p in problems), problems
    assert any("--batchsize" in p for p in problems), problems


def test_checker_reports_a_wrong_param_key(checker: Checker):
    problems = _check(checker, "```bash\nuv run dvc exp run -S isic.binary.epoch=3 -S isic.binary.epochs=3\n```\n")
    assert problems == ["-S isic.binary.epoch: not a param of params.yaml"], problems


def test_checker_reports_broken_links_and_paths(checker: Checker):
    problems = _check(
        checker,
        "See [the guide](nowhere.md), [params](params.md#no-such-heading),\n"
        "`src/medinterp/no_such_module.py`, `models/torch/no_such.py` and\n"
        "`medinterp.models.keras.no_such_module.load`, `medinterp.registry.no_such_name`.\n",
    )
    assert any("nowhere.md does not exist" in p for p in problems), problems
    assert any("no heading #no-such-heading" in p for p in problems), problems
    assert any("src/medinterp/no_such_module.py does not exist" in p for p in problems), problems
    assert any("models/torch/no_such.py" in p for p in problems), problems
    assert any("medinterp.models.keras has no no_such_module" in p for p in problems), problems
    assert any("medinterp.registry has no no_such_name" in p for p in problems), problems


def test_checker_reports_a_missing_module_and_dvc_command(checker: Checker):
    problems = _check(checker, "```bash\nuv run python -m medinterp.stages.nope\nuv run dvc reproduce\n```\n")
    assert "python -m medinterp.stages.nope: no such module in src/" in problems, problems
    assert "dvc reproduce: not a DVC command" in problems, problems


def test_slugs_follow_github():
    assert slug("`paper_autoencoder@<backbone>`") == "paper_autoencoderbackbone"
    heading = "`isic_binary`: 5-fold cross-validation (Tables 6 and 7)"
    assert slug(heading) == "isic_binary-5-fold-cross-validation-tables-6-and-7"
    assert slug("The paper's method on torchvision backbones") == "the-papers-method-on-torchvision-backbones"
    assert anchors("# A\n## A\n```\n# not a heading\n```\n") == {"a", "a-1"}
