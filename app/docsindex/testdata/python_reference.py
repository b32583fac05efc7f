#!/usr/bin/env python3
"""Writes python_reference.jsonl: random texts and the `processed` value
CPython gives them under the gateway's rules (facts/gitlab-ai-gateway.md §9.3):
front-matter quirk, str.lower(), re.sub(r"[^\\w\\s]", "", ...).

Regenerate with: python3 testdata/python_reference.py > testdata/python_reference.jsonl
(Python 3.12 or later uses Unicode 15.0 like Go; 3.11 differs only on
characters Unicode 15.0 added, which the alphabet below avoids.)
"""
import json
import random
import re


def processed(text):
    start = text.find("---")
    if start != -1:
        end = text.find("---", start + 1)
        text = text[end + 2 : -1]
    if not text:
        return ""
    return re.sub(r"[^\w\s]", "", text.lower())


ALPHABET = (
    list("abcXYZ019_ -.,:;!?'\"`#*()[]{}<>/\\|@&%$^~+=\n\t\r")
    + ["---", "---\n", "\n---\n", "\r\n"]
    + list("ÄÖÜßéÉçÇñÑøØåÅ")
    + list("ΣσςΑΒΓΔάΌ")  # Greek: capital sigma takes the final form at word ends
    + ["İ", "I", "ı", "ǅ", "Ǆ", "ẞ", "Ⅻ", "ⅻ", "²", "½", "٣", "۴", "०"]
    + ["\u0301", "\u0307", "\u200b", "\u00ad", "\u00a0", "\u2009", "\u3000", "\u001c", "\u001f", "\u0085", "\u2028"]
    + ["日本語", "中文", "한국어", "עברית", "العربية", "ไทย", "🙂", "👍🏽", "𝔘𝔫𝔦", "Ⓐ", "ⓐ", "™", "©", "€"]
)


def main():
    rnd = random.Random(9)
    for _ in range(400):
        text = "".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(0, 24)))
        print(json.dumps({"text": text, "processed": processed(text)}, ensure_ascii=False))


if __name__ == "__main__":
    main()
