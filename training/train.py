#!/usr/bin/python3
"""Trains the behavioural classifier (LLM traffic or not) on the vectors
training/extract.ts wrote, exports it to ONNX with only tensor outputs, and
writes its parity file and its held-out report.

    /usr/bin/python3 training/train.py [--data DIR] [--out DIR]

Reads DIR/features.csv and DIR/features.json; writes OUT/llm-traffic.onnx,
OUT/llm-traffic.parity.json and OUT/llm-traffic.report.md (and .json).

The model is scikit-learn's GradientBoostingClassifier (Debian's
python3-sklearn); it is written out by hand as one ONNX
TreeEnsembleClassifier node (ai.onnx.ml), because skl2onnx is not packaged
in Debian. Its outputs are tensors: `label` (int64 [N]) and `probabilities`
(float32 [N, 2], columns other, llm) -- never ZipMap's maps, which
onnxruntime-node cannot return. Deterministic: fixed seeds, and the same
CSV gives the same model, byte for byte.
"""
import argparse
import csv
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

SEED = 7
LABELS = ["other", "llm"]
PARAMS = dict(n_estimators=120, max_depth=4, learning_rate=0.15, subsample=0.8, random_state=SEED)


def load(data):
    meta = json.load(open(os.path.join(data, "features.json")))
    with open(os.path.join(data, "features.csv")) as f:
        rows = list(csv.reader(f))
    header, rows = rows[0], rows[1:]
    names = header[5:]
    if names != meta["features"]:
        sys.exit("train: features.csv and features.json disagree on the feature names")
    cols = lambda i: np.array([r[i] for r in rows])
    d = dict(
        phase=cols(0),
        kind=cols(1),
        y=cols(2).astype(int),
        conn=cols(3),
        final=cols(4).astype(int),
        X=np.array([[float(v) for v in r[5:]] for r in rows], dtype=np.float32),
    )
    return meta, names, d


def weights(conn, y):
    """Each connection counts once however many snapshots it made; both classes weigh the same."""
    _, inv, counts = np.unique(conn, return_inverse=True, return_counts=True)
    w = 1.0 / counts[inv]
    for c in (0, 1):
        w[y == c] *= len(y) / 2.0 / max(w[y == c].sum(), 1e-9)
    return w


def prf(y, p):
    pr, rc, f1, n = precision_recall_fscore_support(y, p, labels=[0, 1], zero_division=0)
    return {LABELS[c]: dict(precision=round(float(pr[c]), 4), recall=round(float(rc[c]), 4), f1=round(float(f1[c]), 4), support=int(n[c])) for c in (0, 1)}


def float32_floor(t):
    """The largest float32 <= t: then x <= t and x <= float32_floor(t) agree for every float32 x."""
    f = np.float32(t)
    if float(f) > t:
        f = np.nextafter(f, np.float32(-np.inf))
    return float(f)


def export(clf, names, meta, extra):
    """GradientBoostingClassifier (binary) -> one TreeEnsembleClassifier node."""
    lr = clf.learning_rate
    p = float(clf.init_.class_prior_[1])
    prior = float(np.log(p / (1 - p)))
    N = dict(treeids=[], nodeids=[], featureids=[], modes=[], values=[], true=[], false=[])
    C = dict(treeids=[], nodeids=[], ids=[], weights=[])
    for t, est in enumerate(clf.estimators_[:, 0]):
        tr = est.tree_
        for n in range(tr.node_count):
            N["treeids"].append(t)
            N["nodeids"].append(n)
            leaf = tr.children_left[n] == -1
            N["featureids"].append(0 if leaf else int(tr.feature[n]))
            N["modes"].append("LEAF" if leaf else "BRANCH_LEQ")
            N["values"].append(0.0 if leaf else float32_floor(tr.threshold[n]))
            N["true"].append(0 if leaf else int(tr.children_left[n]))
            N["false"].append(0 if leaf else int(tr.children_right[n]))
            if leaf:
                C["treeids"].append(t)
                C["nodeids"].append(n)
                C["ids"].append(0)
                # the prior is folded into the first tree: no base_values, whose
                # binary-case handling differs between runtimes
                C["weights"].append(float(lr * tr.value[n][0][0] + (prior if t == 0 else 0.0)))
    node = helper.make_node(
        "TreeEnsembleClassifier",
        ["features"],
        ["label", "probabilities"],
        domain="ai.onnx.ml",
        name="llm_traffic",
        classlabels_int64s=[0, 1],
        nodes_treeids=N["treeids"],
        nodes_nodeids=N["nodeids"],
        nodes_featureids=N["featureids"],
        nodes_modes=N["modes"],
        nodes_values=N["values"],
        nodes_truenodeids=N["true"],
        nodes_falsenodeids=N["false"],
        nodes_missing_value_tracks_true=[0] * len(N["treeids"]),
        nodes_hitrates=[1.0] * len(N["treeids"]),
        class_treeids=C["treeids"],
        class_nodeids=C["nodeids"],
        class_ids=C["ids"],
        class_weights=C["weights"],
        post_transform="LOGISTIC",
    )
    graph = helper.make_graph(
        [node],
        "busted_llm_traffic",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", len(names)])],
        [helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]), helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2])],
    )
    model = helper.make_model(graph, producer_name="busted training/train.py", producer_version="1", opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("ai.onnx.ml", 1)])
    model.ir_version = 8
    model.doc_string = "busted behavioural classifier: is this TCP connection LLM traffic? From connection metadata (engine/ml/features.ts)."
    md = {
        "busted.feature_version": str(meta["feature_version"]),
        "busted.features": ",".join(names),
        "busted.labels": ",".join(LABELS),
        "busted.positive_label": "llm",
        "busted.model": f"GradientBoostingClassifier {json.dumps(PARAMS, sort_keys=True)}",
        **extra,
    }
    for k, v in md.items():
        e = model.metadata_props.add()
        e.key, e.value = k, v
    onnx.checker.check_model(model)
    return model, prior


def raw_check(clf, prior, X):
    """The exported sum (prior + lr * leaves) is sklearn's decision function."""
    raw = prior + clf.learning_rate * sum(e.predict(X) for e in clf.estimators_[:, 0])
    err = float(np.max(np.abs(raw - clf.decision_function(X))))
    if err > 1e-6:
        sys.exit(f"train: exported trees disagree with sklearn's decision function by {err}")


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--data", default=os.path.join(here, "data"))
    ap.add_argument("--out", default=os.path.join(here, "..", "models"))
    a = ap.parse_args()
    meta, names, d = load(a.data)
    tr = d["phase"] == "train"
    te = d["phase"] == "heldout"
    if not tr.any() or not te.any():
        sys.exit("train: features.csv needs both train and heldout rows")
    Xtr, ytr = d["X"][tr], d["y"][tr]
    clf = GradientBoostingClassifier(**PARAMS)
    clf.fit(Xtr, ytr, sample_weight=weights(d["conn"][tr], ytr))

    Xte, yte = d["X"][te], d["y"][te]
    pte = clf.predict_proba(Xte)[:, 1]
    yhat = (pte >= 0.5).astype(int)
    kinds_tr = sorted(set(d["kind"][tr]))
    # per connection: its last snapshot (the close, or the latest while still open)
    conn_te, kind_te, final_te = d["conn"][te], d["kind"][te], d["final"][te]
    last = {}
    for i, c in enumerate(conn_te):
        last[c] = i
    li = np.array(sorted(last.values()))
    per_kind = []
    for k in sorted(set(kind_te)):
        m = kind_te == k
        mc = kind_te[li] == k
        lab = int(d["y"][te][m][0])
        per_kind.append(
            dict(
                kind=k,
                label=LABELS[lab],
                seen_in_training=k in kinds_tr,
                snapshots=int(m.sum()),
                connections=int(mc.sum()),
                snapshot_accuracy=round(float((yhat[m] == yte[m]).mean()), 4),
                connection_accuracy=round(float((yhat[li][mc] == yte[li][mc]).mean()), 4) if mc.any() else None,
                mean_llm_score=round(float(pte[m].mean()), 4),
            )
        )
    report = dict(
        feature_version=meta["feature_version"],
        features=len(names),
        model=f"GradientBoostingClassifier {PARAMS}",
        train=dict(rows=int(tr.sum()), connections=int(len(set(d["conn"][tr]))), kinds=kinds_tr),
        heldout=dict(
            rows=int(te.sum()),
            connections=int(len(li)),
            kinds_never_seen_in_training=sorted(set(kind_te) - set(kinds_tr)),
            per_snapshot=dict(classes=prf(yte, yhat), confusion=confusion_matrix(yte, yhat, labels=[0, 1]).tolist()),
            per_connection=dict(classes=prf(yte[li], yhat[li]), confusion=confusion_matrix(yte[li], yhat[li], labels=[0, 1]).tolist()),
            unseen_kinds_only=dict(classes=prf(yte[~np.isin(kind_te, kinds_tr)], yhat[~np.isin(kind_te, kinds_tr)])),
            per_kind=per_kind,
        ),
        train_fit=dict(classes=prf(ytr, clf.predict(Xtr))),
        top_features=[dict(name=names[i], importance=round(float(clf.feature_importances_[i]), 4)) for i in np.argsort(-clf.feature_importances_)[:15]],
    )
    f1 = report["heldout"]["per_snapshot"]["classes"]["llm"]["f1"]
    extra = {"busted.heldout_f1_llm": str(f1), "busted.train_rows": str(int(tr.sum()))}
    model, prior = export(clf, names, meta, extra)
    raw_check(clf, prior, Xte[:2000])

    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, "llm-traffic.onnx")
    with open(path, "wb") as f:
        f.write(model.SerializeToString())

    # parity: held-out rows of every kind (and a zero row), with sklearn's answers
    rng = np.random.RandomState(SEED)
    pick = []
    for k in sorted(set(kind_te)):
        idx = np.where(kind_te == k)[0]
        pick.extend(rng.choice(idx, size=min(3, len(idx)), replace=False).tolist())
    Xp = np.vstack([Xte[pick], np.zeros((1, len(names)), dtype=np.float32)])
    Pp = clf.predict_proba(Xp)
    parity = dict(
        model="llm-traffic.onnx",
        feature_version=meta["feature_version"],
        features=names,
        labels=LABELS,
        tolerance=1e-4,
        kinds=[kind_te[i] for i in pick] + ["zeros"],
        inputs=[[float(v) for v in row] for row in Xp],
        probabilities=[[round(float(v), 7) for v in row] for row in Pp],
        label=[int(v) for v in Pp.argmax(axis=1)],
    )
    with open(os.path.join(a.out, "llm-traffic.parity.json"), "w") as f:
        json.dump(parity, f, indent=None, separators=(",", ":"))
        f.write("\n")
    with open(os.path.join(a.out, "llm-traffic.report.json"), "w") as f:
        json.dump(report, f, indent=1)
        f.write("\n")
    with open(os.path.join(a.out, "llm-traffic.report.md"), "w") as f:
        f.write(markdown(report))
    print(f"train: wrote {path} ({os.path.getsize(path)} bytes); held-out F1 (llm) {f1} per snapshot, "
          f"{report['heldout']['per_connection']['classes']['llm']['f1']} per connection", file=sys.stderr)


def markdown(r):
    h = r["heldout"]
    out = [
        "# llm-traffic.onnx: held-out report",
        "",
        "Written by `training/train.py` (run `bash training/run.sh`); the numbers are on traffic generated",
        "for real on the training machine, recorded by the agent and never used for fitting.",
        "",
        f"- model: {r['model']}, feature version {r['feature_version']} ({r['features']} features)",
        f"- training: {r['train']['rows']} snapshots of {r['train']['connections']} connections, kinds: {', '.join(r['train']['kinds'])}",
        f"- held out: {h['rows']} snapshots of {h['connections']} connections; kinds never seen in training: {', '.join(h['kinds_never_seen_in_training'])}",
        "",
    ]

    def table(title, m):
        out.extend([f"## {title}", "", "| class | precision | recall | F1 | support |", "|---|---|---|---|---|"])
        for c in LABELS:
            x = m["classes"][c]
            out.append(f"| {c} | {x['precision']} | {x['recall']} | {x['f1']} | {x['support']} |")
        if "confusion" in m:
            cm = m["confusion"]
            out.extend(["", "Confusion (rows: truth, columns: predicted):", "", "| | other | llm |", "|---|---|---|", f"| other | {cm[0][0]} | {cm[0][1]} |", f"| llm | {cm[1][0]} | {cm[1][1]} |"])
        out.append("")

    table("Every scored snapshot (what policies see: each flow event of a connection)", h["per_snapshot"])
    table("Per connection (its last snapshot)", h["per_connection"])
    table("Kinds never seen in training only (per snapshot)", h["unseen_kinds_only"])
    out.extend(["## Per traffic kind", "", "| kind | truth | seen in training | snapshots | connections | accuracy (snapshots) | accuracy (connections) | mean llm_score |", "|---|---|---|---|---|---|---|---|"])
    for k in h["per_kind"]:
        out.append(f"| {k['kind']} | {k['label']} | {'yes' if k['seen_in_training'] else 'no'} | {k['snapshots']} | {k['connections']} | {k['snapshot_accuracy']} | {k['connection_accuracy']} | {k['mean_llm_score']} |")
    out.extend(["", "## Most important features", "", "| feature | importance |", "|---|---|"])
    for f in r["top_features"]:
        out.append(f"| {f['name']} | {f['importance']} |")
    out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    main()
