"""One input through every reader: ``oxy.validate``, ``oxy inspect``'s model, the real
CLI entry points (in-process) and the runtime loader; then its outcome class.

Verdicts:

* **validate accepts** when the report has no ERROR-severity diagnostic (warnings
  allowed); ``strict`` is passed as False when the API has the switch.
* **the loader accepts** when the mount succeeds and every asset and every texture
  and buffer of the mount loads without an exception.

Outcome classes (``classify``): ``valid`` (both accept), ``invalid-agreed`` (both
refuse), ``disagree:validate-accepts`` / ``disagree:loader-accepts``, ``unexpected``
(any exception that is not an :class:`oxy.errors.OxyError` escaping validate,
inspect or the loader, a CLI traceback, a CLI exit code outside 0/2/3 or one that
contradicts the API). The parent adds ``crash`` and ``hang``.

``OSError`` is documented (not unexpected) only where it is an honest I/O fault: the
loose index itself is missing or unreadable, or the input had a file-system fault
(a deleted file, a directory or a symlink in place of a file).
"""
from __future__ import annotations

import contextlib
import inspect
import io
import os
import re
import traceback
from typing import Any

FS_OPS = ("delete", "mkdir", "symlink_out", "symlink_dir_out")
CLI_CODES = {0, 2, 3}


def norm_field(text: str) -> str:
    """``directory[3].desc_offset`` -> ``directory[*].desc_offset`` (for grouping)."""
    return re.sub(r"\[\d+\]", "[*]", text or "")


def norm_message(text: str) -> str:
    """A message without its numbers, keys and paths, cut short (for grouping)."""
    text = (text or "").splitlines()[0] if text else ""
    text = re.sub(r"""(['"])(?:(?!\1).)*\1""", "<str>", text)  # quoted file names, whatever they hold
    text = re.sub(r"(/[^\s:'\"]+)+", "<path>", text)
    text = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<key>", text)
    text = re.sub(r"(0x)?[0-9a-fA-F]*\d[0-9a-fA-F]*", "N", text)
    return text[:70]


def _site(exc: BaseException) -> str:
    """The innermost frame inside oxy/ (else the innermost frame) as file:line:function."""
    frames = traceback.extract_tb(exc.__traceback__)
    inside = [f for f in frames if f"{os.sep}oxy{os.sep}" in f.filename]
    f = (inside or frames or [None])[-1]
    if f is None:
        return "?"
    name = f.filename.split(f"{os.sep}oxy{os.sep}", 1)[-1]
    return f"oxy/{name}:{f.lineno}:{f.name}" if inside else f"{os.path.basename(f.filename)}:{f.lineno}:{f.name}"


def _exc_info(where: str, exc: BaseException) -> dict[str, Any]:
    return {"where": where, "type": type(exc).__name__, "message": str(exc)[:300], "site": _site(exc),
            "traceback": "".join(traceback.format_exception(exc))[-4000:]}


class Checker:
    """Runs inputs; owns one ImportLoop shared by a fresh AssetLoader per input."""

    def __init__(self, *, cli: bool = True) -> None:
        from oxy.hub import ImportLoop

        self.cli = cli
        self.loop = ImportLoop(cpu_threads=1, io_threads=1, name="oxy-fuzz")

    def close(self) -> None:
        self.loop.close()

    # -------------------------------------------------------------- one input
    def run(self, path: str, kind: str, verify: bool, *, fs_fault: bool, json_cli: bool) -> dict[str, Any]:
        from oxy.errors import OxyError

        unexpected: list[dict[str, Any]] = []
        notes: list[str] = []
        index_path = os.path.join(path, "container.index.bin") if kind == "loose" else path

        def documented_oserror(exc: BaseException) -> bool:
            if not isinstance(exc, OSError):
                return False
            return fs_fault or (kind == "loose" and os.fspath(exc.filename or "") == index_path)

        # validate
        v: dict[str, Any] = {}
        try:
            report = _validate(path, verify)
            errors = report.errors
            v = {"verdict": "refuse" if errors else "accept", "errors": len(errors),
                 "warnings": len(report.warnings), "code": errors[0].code if errors else "",
                 "field": norm_field(errors[0].field) if errors else "",
                 "message": str(errors[0])[:300] if errors else ""}
        except OxyError as exc:  # the API promises a report, not an exception, for bad content
            v = {"verdict": "refuse", "code": f"raised:{type(exc).__name__}", "message": str(exc)[:300]}
            notes.append(f"validate raised {type(exc).__name__}")
        except Exception as exc:  # noqa: BLE001 - classified below
            if documented_oserror(exc):
                v = {"verdict": "refuse", "code": "oserror", "message": str(exc)[:300]}
            else:
                v = {"verdict": "error"}
                unexpected.append(_exc_info("validate", exc))

        # inspect (the model behind `oxy inspect`)
        ins: dict[str, Any] = {}
        try:
            from oxy.cli.describe import describe_path

            describe_path(path)
            ins = {"ok": True}
        except OxyError as exc:
            ins = {"ok": False, "type": type(exc).__name__}
        except Exception as exc:  # noqa: BLE001
            if documented_oserror(exc):
                ins = {"ok": False, "type": "OSError"}
            else:
                ins = {"ok": False, "type": type(exc).__name__}
                unexpected.append(_exc_info("inspect", exc))

        # the real CLI entry points, in-process
        cli: dict[str, Any] = {}
        if self.cli:
            extra = ["--json"] if json_cli else []
            args = ["validate", path, *extra] + (["--verify-hashes"] if verify else [])
            rc = self._cli(args, unexpected)
            cli["validate"] = rc
            want = {"accept": 0, "refuse": 2 if v.get("code") == "oserror" else 3}.get(v.get("verdict", ""))
            if rc is not None and want is not None and rc != want:
                unexpected.append({"where": "cli.validate", "type": "ExitCode", "site": "cli validate exit code",
                                   "message": f"exit {rc}, the API verdict ({v.get('verdict')}) means {want}",
                                   "traceback": ""})
            rc = self._cli(["inspect", path, *extra], unexpected)
            cli["inspect"] = rc
            want = 0 if ins.get("ok") else 2 if ins.get("type") == "OSError" else 3
            if rc is not None and rc != want and not any(u["where"] == "inspect" for u in unexpected):
                unexpected.append({"where": "cli.inspect", "type": "ExitCode", "site": "cli inspect exit code",
                                   "message": f"exit {rc}, describe_path gave {ins}", "traceback": ""})

        ld = self._load(path, kind, verify, unexpected)
        result = {"validate": v, "inspect": ins, "cli": cli, "loader": ld, "unexpected": unexpected}
        result["outcome"] = classify(result)
        if result["outcome"] == "valid" and not ins.get("ok"):
            notes.append("inspect refuses an input that validate and the loader accept")
        hidden = classify({**result, "unexpected": []})
        if result["outcome"] == "unexpected" and hidden.startswith("disagree"):
            key = group_key({"kind": kind}, {**result, "outcome": hidden})
            notes.append(f"{hidden} hidden by an unexpected exception: {key}")
        result["notes"] = notes
        return result

    def _cli(self, args: list[str], unexpected: list[dict[str, Any]]) -> int | None:
        from oxy.cli.main import main

        out, err = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                rc: Any = main(args)
        except SystemExit as exc:
            rc = exc.code
        except Exception as exc:  # noqa: BLE001 - a traceback from the CLI
            unexpected.append(_exc_info(f"cli.{args[0]}", exc))
            return None
        if not isinstance(rc, int) or rc not in CLI_CODES:
            unexpected.append({"where": f"cli.{args[0]}", "type": "ExitCode", "site": f"cli {args[0]} exit code",
                               "message": f"exit code {rc!r} is not one of {sorted(CLI_CODES)}; stderr: "
                                          f"{err.getvalue()[-300:]}", "traceback": ""})
            return None
        if "Traceback (most recent call last)" in err.getvalue():
            unexpected.append({"where": f"cli.{args[0]}", "type": "Traceback", "site": f"cli {args[0]} stderr",
                               "message": err.getvalue()[-300:], "traceback": err.getvalue()[-4000:]})
        return rc

    def _load(self, path: str, kind: str, verify: bool, unexpected: list[dict[str, Any]]) -> dict[str, Any]:
        from oxy.errors import OxyError
        from oxy.runtime import AssetLoader, LoaderConfig, ResourceKey, ResourceKind

        first: dict[str, Any] | None = None
        loader = AssetLoader(LoaderConfig(loop=self.loop, verify_content_hashes=verify, name="oxy-fuzz"))
        loader.start()
        loaded = 0
        try:
            try:
                sid = loader.add_pak(path) if kind == "pak" else loader.add_loose_cooked_root(path)
            except OxyError as exc:
                return {"verdict": "refuse", "stage": "mount", "type": type(exc).__name__,
                        "field": norm_field(getattr(exc, "field", "")), "message": str(exc)[:300]}
            except Exception as exc:  # noqa: BLE001
                unexpected.append(_exc_info("loader.mount", exc))
                return {"verdict": "error", "stage": "mount"}
            keys, counts = _mount_contents(loader, sid)
            work: list[tuple[str, Any]] = []
            for key in keys:
                work.append(("asset", key))
            for rkind in (ResourceKind.TEXTURE, ResourceKind.BUFFER):
                work += [(rkind.value, ResourceKey(sid, rkind, i)) for i in range(counts[rkind])]
            futures = []
            for stage, key in work:
                try:
                    fut = loader.load_asset(key) if stage == "asset" else loader.load_resource(key)
                    futures.append((stage, key, fut, None))
                except BaseException as exc:  # noqa: BLE001
                    futures.append((stage, key, None, exc))
            textures = []
            for stage, key, fut, error in futures:
                try:
                    if error is not None:
                        raise error
                    value = fut.result()
                    loaded += 1
                    if stage == "texture":
                        textures.append(value)
                except OxyError as exc:
                    if first is None:
                        first = {"verdict": "refuse", "stage": stage, "type": type(exc).__name__,
                                 "field": norm_field(getattr(exc, "field", "")), "message": str(exc)[:300]}
                except (KeyboardInterrupt, SystemExit):
                    raise
                except BaseException as exc:  # noqa: BLE001
                    unexpected.append(_exc_info(f"loader.{stage}", exc))
                    if first is None:
                        first = {"verdict": "error", "stage": stage, "type": type(exc).__name__}
            _decode_pixels(textures, unexpected)
        finally:
            try:
                loader.stop()
            except Exception as exc:  # noqa: BLE001
                unexpected.append(_exc_info("loader.stop", exc))
        return first or {"verdict": "accept", "loaded": loaded}


def _decode_pixels(textures: list[Any], unexpected: list[dict[str, Any]]) -> None:
    """``TextureResource.to_rgba8`` of the first and last mip of layer 0 of every loaded
    texture (RGBA8 copies, BC7 through the native decoder). Its documented refusal is
    ValueError (unsupported format, a layout that does not fit the payload); anything
    else, or a crash, is a finding."""
    from oxy.errors import OxyError

    for tex in textures:
        for mip in sorted({0, max(0, tex.mip_levels - 1)}):
            try:
                tex.to_rgba8(0, mip)
            except (ValueError, OxyError):
                pass
            except Exception as exc:  # noqa: BLE001
                unexpected.append(_exc_info("texture.to_rgba8", exc))


def _mount_contents(loader: Any, sid: Any) -> tuple[list[Any], dict[Any, int]]:
    """The asset keys and table sizes of one mount.

    The loader has no public listing, so this reads its mount table (private; kept
    in this one function so a rename breaks one place)."""
    from oxy.runtime import ResourceKind

    source = loader._mounts.source(sid)
    keys = sorted(source.assets, key=lambda k: k.raw)
    return keys, {k: source.count(k) for k in (ResourceKind.TEXTURE, ResourceKind.BUFFER)}


def _validate(path: str, verify: bool) -> Any:
    from oxy.validate import validate_path

    kwargs: dict[str, Any] = {"verify_hashes": verify}
    if "strict" in inspect.signature(validate_path).parameters:
        kwargs["strict"] = False
    return validate_path(path, **kwargs)


def classify(result: dict[str, Any]) -> str:
    if result["unexpected"]:
        return "unexpected"
    v, ld = result["validate"]["verdict"], result["loader"]["verdict"]
    if v == ld:
        return "valid" if v == "accept" else "invalid-agreed"
    return "disagree:validate-accepts" if v == "accept" else "disagree:loader-accepts"


def group_key(recipe: dict[str, Any], result: dict[str, Any]) -> str:
    """What makes two findings the same defect class (for the report)."""
    outcome = result["outcome"]
    kind = recipe.get("kind", "?")
    if outcome == "unexpected":
        u = result["unexpected"][0]
        return f"{u['where']}: {u['type']} at {u['site']}: {norm_message(u['message'])}"
    if outcome == "disagree:validate-accepts":
        ld = result["loader"]
        return f"{kind}: loader {ld.get('stage')} {ld.get('type')} {ld.get('field', '')}".rstrip()
    if outcome == "disagree:loader-accepts":
        v = result["validate"]
        return f"{kind}: validate {v.get('code')} {v.get('field', '')}".rstrip()
    return outcome
