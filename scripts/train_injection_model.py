"""Train the injection tripwire's learned model: core/safety/injection_model.json.

    pip install 'claude-cua[train]'        # scikit-learn, for training only
    python scripts/train_injection_model.py [--check]

The model is a logistic regression over the words and word pairs of the detector's view of a
text (`tripwire.text_features(tripwire.seen_text(text))`: look-alikes, leetspeak and spacing
already folded), so it is judged by the same few lines of pure Python that run in cua, with
no library at run time. It backs up the word tables: a text they pass is flagged when the
model's score is above its threshold.

What it learns from (every text labelled hostile: it talks to the AI agent; or benign):
- scripts/injection_training/*.json: corpora written for training by helper sessions that had
  not seen the detector (hostile screen texts of many kinds, hard benign look-alikes, ordinary
  UI, terminal and document lines; English, Chinese and a few other languages);
- the spent held-out sets (benchmarks/injection_heldout*.json);
- the detector's test cases (tests/test_injection.py).
Kept out, so that they stay measurements: benchmarks/injection_corpus.py (the hostile
variants the end-to-end benchmark shows and its ordinary screens), the clean sets
(benchmarks/injection_clean_*.json) and any held-out set written later.

The threshold is chosen on leave-one-source-out scores (each source scored by a model trained
on the others): the lowest at which no more than MAX_FALSE_ALARMS of the benign texts of the
training corpora are flagged. The figures it prints are those scores. `--check` trains and
reports without writing the model.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "tests")]

try:  # the training extra: an error that names the install command, not a traceback
    import numpy as np
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression
except ImportError:
    sys.exit("training needs scikit-learn: pip install 'claude-cua[train]'")

from claude_cua.core.safety.tripwire import (  # noqa: E402
    MODEL_FILE,
    judge_words,
    seen_text,
    text_features,
)

C = 1.0  # inverse regularisation (chosen on the leave-one-source-out scores, see --check)
# Of the training corpora's benign texts, scored held out: 1.5%, not less, because one corpus
# (train_j) is all hard look-alikes (articles about prompt injection, agent builders' settings)
# and at 1% it alone raised the threshold enough to pass a tenth more of the others' hostile
# texts.
MAX_FALSE_ALARMS = 0.015
PRUNE = 0.01  # weights smaller than this are left out of the file (they barely move a score)
Sample = tuple[int, str, str]  # label (1 hostile, 0 benign), source, text


def samples() -> list[Sample]:
    out: list[Sample] = []
    for path in sorted((REPO / "scripts" / "injection_training").glob("*.json")):
        out += _from_json(path)
    for path in sorted((REPO / "benchmarks").glob("injection_heldout*.json")):
        out += _from_json(path)
    import test_injection as cases  # tests/ is on the path: the detector's own cases

    out += [(1, "tests", text) for text, _ in cases.HOSTILE + cases.GENERAL]
    out += [(1, "tests", text) for text in cases.OBFUSCATED]
    out += [(0, "tests", text) for text in cases.BENIGN]
    return out


def _from_json(path: Path) -> list[Sample]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return ([(1, path.name, text) for _, text in data["hostile"]]
            + [(0, path.name, text) for _, text in data["benign"]])


def fit(rows, labels):
    return LogisticRegression(C=C, solver="liblinear", class_weight="balanced",
                              random_state=0).fit(rows, labels)


def held_out_scores(data: list[Sample], matrix) -> np.ndarray:
    labels = np.array([label for label, _, _ in data])
    sources = [source for _, source, _ in data]
    scores = np.zeros(len(data))
    for held in sorted(set(sources)):
        train = [i for i, s in enumerate(sources) if s != held]
        test = [i for i, s in enumerate(sources) if s == held]
        scores[test] = fit(matrix[train], labels[train]).decision_function(matrix[test])
    return scores


def choose_threshold(data: list[Sample], scores: np.ndarray) -> float:
    corpora = [i for i, (label, source, _) in enumerate(data)
               if label == 0 and source.startswith("train_")]
    benign = np.sort(scores[corpora])[::-1]
    allowed = int(len(benign) * MAX_FALSE_ALARMS)
    return float(round(max(benign[allowed], 0.0) + 0.05, 2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="report only; write nothing")
    args = parser.parse_args()
    data = samples()
    print("texts:", dict(Counter((s, "hostile" if lab else "benign") for lab, s, _ in data)))
    vectorizer = DictVectorizer(dtype=np.float64)
    matrix = vectorizer.fit_transform(
        [dict.fromkeys(text_features(seen_text(text)), 1) for _, _, text in data]).tocsr()
    matrix.indices = matrix.indices.astype(np.int32)  # liblinear takes 32-bit indices only
    matrix.indptr = matrix.indptr.astype(np.int32)
    labels = np.array([label for label, _, _ in data])
    scores = held_out_scores(data, matrix)
    threshold = choose_threshold(data, scores)
    print(f"threshold {threshold} (at most {MAX_FALSE_ALARMS:.1%} of the corpora's benign "
          "texts above it, scored held out)")
    words = np.array([judge_words(seen_text(text)) is not None for _, _, text in data])
    both = words | (scores > threshold)
    print("each source scored by a model trained on the others; hostile caught and benign "
          "flagged by the model alone | the word tables alone | either (what cua flags):")
    for source in sorted({s for _, s, _ in data}):
        hostile = [i for i, (lab, s, _) in enumerate(data) if s == source and lab == 1]
        benign = [i for i, (lab, s, _) in enumerate(data) if s == source and lab == 0]
        print(f"  {source:26} hostile {sum(scores[hostile] > threshold):3} | "
              f"{sum(words[hostile]):3} | {sum(both[hostile]):3} of {len(hostile):3}   benign "
              f"{sum(scores[benign] > threshold)} | {sum(words[benign])} | {sum(both[benign])} "
              f"of {len(benign)}")
    model = fit(matrix, labels)
    names = vectorizer.get_feature_names_out()
    weights = {str(name): round(float(w), 4) for name, w in zip(names, model.coef_[0],
                                                                 strict=True)
               if abs(w) >= PRUNE}
    print(f"{len(weights)} of {len(names)} features kept (|weight| >= {PRUNE})")
    if args.check:
        return
    MODEL_FILE.write_text(json.dumps({
        "about": "cua's injection tripwire: logistic regression over words and word pairs "
                 "(scripts/train_injection_model.py wrote this; do not edit by hand)",
        "trained_on": dict(Counter(f"{s}:{'hostile' if lab else 'benign'}"
                                   for lab, s, _ in data)),
        "bias": round(float(model.intercept_[0]), 4), "threshold": threshold,
        "weights": dict(sorted(weights.items())),
    }, ensure_ascii=False, indent=0, sort_keys=False) + "\n", encoding="utf-8")
    print(f"wrote {MODEL_FILE} ({MODEL_FILE.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
