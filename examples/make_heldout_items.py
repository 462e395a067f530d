#!/usr/bin/env python3
"""Writes examples/heldout_stories.jsonl: one item per held-out document of the bundled model
(assets/brown-llama-12l/heldout.txt, documents separated by blank lines), its first sentences up
to about 600 characters as the field "story", with ids heldout-01..heldout-25.
Usage: python3 examples/make_heldout_items.py [heldout.txt] [out.jsonl]"""
import json
import sys

src = sys.argv[1] if len(sys.argv) > 1 else "assets/brown-llama-12l/heldout.txt"
dst = sys.argv[2] if len(sys.argv) > 2 else "examples/heldout_stories.jsonl"
docs = [d for d in open(src, encoding="utf-8").read().split("\n\n") if d.strip()]
with open(dst, "w", encoding="utf-8") as out:
    for i, doc in enumerate(docs, 1):
        story = ""
        for line in doc.split("\n"):
            if story and len(story) + len(line) > 600:
                break
            story = (story + " " + line).strip()
        out.write(json.dumps({"id": f"heldout-{i:02}", "story": story}) + "\n")
