#!/usr/bin/env python3
"""Regenerate the bundled sample content in samples/ (deterministic: same bytes every run).

    python tools/make_sample.py            # writes samples/sample.pak
    python tools/make_sample.py --check    # exit 1 if samples/sample.pak is out of date

tests/test_samples.py runs the same check, so a change to the writers that alters
the sample's bytes shows up in the tests.
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from oxy.samples import textured_cube, write_sample_pak  # noqa: E402

SAMPLE = pathlib.Path(__file__).resolve().parents[1] / "samples" / "sample.pak"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            fresh = write_sample_pak(pathlib.Path(tmp) / "sample.pak", textured_cube())
        same = SAMPLE.exists() and SAMPLE.read_bytes() == fresh
        print(f"{SAMPLE}: {'up to date' if same else 'OUT OF DATE'}")
        return 0 if same else 1
    data = write_sample_pak(SAMPLE, textured_cube())
    print(f"wrote {SAMPLE} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
