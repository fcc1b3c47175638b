"""caret-equivalent statistics, checked against the study's printed simple-CNN results."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import STUDY_CM

from training.metrics import (
    PER_CLASS_KEYS,
    caret_stats,
    confusion_matrix,
    expected_calibration_error,
    format_caret,
    format_pval,
    format_r_number,
    reliability_table,
)

CLASSES = ["buildings", "forest", "glacier", "mountain", "sea", "street"]

# Verbatim print(confusionMatrix(as.table(m))) from R 4.2.2 + caret 6.0-93 (Debian bookworm),
# trailing blanks stripped.
R_STUDY = """\
Confusion Matrix and Statistics

           Reference
Prediction  buildings forest glacier mountain sea street
  buildings       348     24      14       20  35    106
  forest            8    418       3        4   4     19
  glacier           7      5     357       53  38      5
  mountain         19      6      98      381  61      5
  sea              13      1      75       65 363      6
  street           42     20       6        2   9    360

Overall Statistics

               Accuracy : 0.7423
                 95% CI : (0.7263, 0.7579)
    No Information Rate : 0.1843
    P-Value [Acc > NIR] : < 2.2e-16

                  Kappa : 0.6909

 Mcnemar's Test P-Value : 1.327e-10

Statistics by Class:

                     Class: buildings Class: forest Class: glacier
Sensitivity                    0.7963        0.8819         0.6456
Specificity                    0.9224        0.9850         0.9559
Pos Pred Value                 0.6362        0.9167         0.7677
Neg Pred Value                 0.9637        0.9780         0.9227
Prevalence                     0.1457        0.1580         0.1843
Detection Rate                 0.1160        0.1393         0.1190
Detection Prevalence           0.1823        0.1520         0.1550
Balanced Accuracy              0.8593        0.9334         0.8007
                     Class: mountain Class: sea Class: street
Sensitivity                   0.7257     0.7118        0.7186
Specificity                   0.9236     0.9357        0.9684
Pos Pred Value                0.6684     0.6941        0.8200
Neg Pred Value                0.9407     0.9407        0.9449
Prevalence                    0.1750     0.1700        0.1670
Detection Rate                0.1270     0.1210        0.1200
Detection Prevalence          0.1900     0.1743        0.1463
Balanced Accuracy             0.8247     0.8238        0.8435
"""

R_SPARSE = """\
Confusion Matrix and Statistics

          Reference
Prediction a b c
         a 5 1 0
         b 2 6 1
         c 0 3 7

Overall Statistics

               Accuracy : 0.72
                 95% CI : (0.5061, 0.8793)
    No Information Rate : 0.4
    P-Value [Acc > NIR] : 0.001205

                  Kappa : 0.5763

 Mcnemar's Test P-Value : NA

Statistics by Class:

                     Class: a Class: b Class: c
Sensitivity            0.7143   0.6000   0.8750
Specificity            0.9444   0.8000   0.8235
Pos Pred Value         0.8333   0.6667   0.7000
Neg Pred Value         0.8947   0.7500   0.9333
Prevalence             0.2800   0.4000   0.3200
Detection Rate         0.2000   0.2400   0.2800
Detection Prevalence   0.2400   0.3600   0.4000
Balanced Accuracy      0.8294   0.7000   0.8493
"""

R_PERFECT = """\
Confusion Matrix and Statistics

          Reference
Prediction  a  b  c
         a 10  0  0
         b  0 20  0
         c  0  0  0

Overall Statistics

               Accuracy : 1
                 95% CI : (0.8843, 1)
    No Information Rate : 0.6667
    P-Value [Acc > NIR] : 5.215e-06

                  Kappa : 1

 Mcnemar's Test P-Value : NA

Statistics by Class:

                     Class: a Class: b Class: c
Sensitivity            1.0000   1.0000       NA
Specificity            1.0000   1.0000        1
Pos Pred Value         1.0000   1.0000       NA
Neg Pred Value         1.0000   1.0000       NA
Prevalence             0.3333   0.6667        0
Detection Rate         0.3333   0.6667        0
Detection Prevalence   0.3333   0.6667        0
Balanced Accuracy      1.0000   1.0000       NA
"""


@pytest.fixture(scope="module")
def study():
    return caret_stats(STUDY_CM, CLASSES)


def test_overall_statistics_match_the_study(study):
    assert study.n == 3000
    assert round(study.accuracy, 4) == 0.7423
    assert (round(study.ci_low, 4), round(study.ci_high, 4)) == (0.7263, 0.7579)
    assert round(study.nir, 4) == 0.1843  # glacier: 553 / 3000
    assert study.p_acc_gt_nir < 2.2e-16
    assert round(study.kappa, 4) == 0.6909
    assert f"{study.mcnemar_p:.3e}" == "1.327e-10"


def test_buildings_statistics_match_the_study(study):
    b = study.per_class["buildings"]
    assert round(b["sensitivity"], 4) == 0.7963
    assert round(b["specificity"], 4) == 0.9224
    assert round(b["pos_pred_value"], 4) == 0.6362
    assert round(b["neg_pred_value"], 4) == 0.9637
    assert round(b["balanced_accuracy"], 4) == 0.8593


def test_every_class_follows_the_one_vs_all_definitions(study):
    n = 3000
    ref = STUDY_CM.sum(axis=0)  # [437, 474, 553, 525, 510, 501]
    pred = STUDY_CM.sum(axis=1)  # [547, 456, 465, 570, 523, 439]
    assert ref.tolist() == [437, 474, 553, 525, 510, 501]
    assert pred.tolist() == [547, 456, 465, 570, 523, 439]
    expected = {
        # class: (sens, spec, ppv, npv, prevalence, detection rate, detection prevalence, bal acc)
        "buildings": (0.7963, 0.9224, 0.6362, 0.9637, 0.1457, 0.1160, 0.1823, 0.8593),
        "forest": (0.8819, 0.9850, 0.9167, 0.9780, 0.1580, 0.1393, 0.1520, 0.9334),
        "glacier": (0.6456, 0.9559, 0.7677, 0.9227, 0.1843, 0.1190, 0.1550, 0.8007),
        "mountain": (0.7257, 0.9236, 0.6684, 0.9407, 0.1750, 0.1270, 0.1900, 0.8247),
        "sea": (0.7118, 0.9357, 0.6941, 0.9407, 0.1700, 0.1210, 0.1743, 0.8238),
        "street": (0.7186, 0.9684, 0.8200, 0.9449, 0.1670, 0.1200, 0.1463, 0.8435),
    }
    for i, name in enumerate(CLASSES):
        got = study.per_class[name]
        assert tuple(got) == PER_CLASS_KEYS
        assert tuple(round(got[k], 4) for k in PER_CLASS_KEYS) == expected[name], name
        tp = STUDY_CM[i, i]
        assert got["prevalence"] == pytest.approx(ref[i] / n)
        assert got["detection_rate"] == pytest.approx(tp / n)
        assert got["detection_prevalence"] == pytest.approx(pred[i] / n)
        assert got["sensitivity"] == pytest.approx(tp / ref[i])
        assert got["pos_pred_value"] == pytest.approx(tp / pred[i])


def _stripped(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.splitlines())


@pytest.mark.parametrize(
    ("cm", "classes", "expected"),
    [
        (STUDY_CM, CLASSES, R_STUDY),
        (np.array([[5, 1, 0], [2, 6, 1], [0, 3, 7]]), ["a", "b", "c"], R_SPARSE),
        (np.diag([10, 20, 0]), ["a", "b", "c"], R_PERFECT),
    ],
    ids=["study", "sparse", "perfect"],
)
def test_format_caret_matches_r_line_for_line(cm, classes, expected):
    assert _stripped(format_caret(caret_stats(cm, classes))) == _stripped(expected)


def test_format_caret_unwrapped_when_wide(study):
    lines = format_caret(study, width=200).splitlines()
    assert sum(line.startswith("Sensitivity") for line in lines) == 1
    row = next(line for line in lines if line.startswith("Sensitivity"))
    assert row.split()[1:] == ["0.7963", "0.8819", "0.6456", "0.7257", "0.7118", "0.7186"]


def test_to_dict_is_json_safe_and_round_trips(study):
    d = json.loads(json.dumps(study.to_dict(), allow_nan=False))
    assert d["cm"][0] == [348, 24, 14, 20, 35, 106]
    assert d["classes"] == CLASSES
    assert d["accuracy"] == pytest.approx(2227 / 3000)
    assert d["per_class"]["forest"]["sensitivity"] == pytest.approx(418 / 474)
    back = type(study).from_dict(d)
    assert np.array_equal(back.cm, STUDY_CM) and back.per_class == study.per_class
    assert back.mcnemar_p == study.mcnemar_p


def test_confusion_matrix_orientation_is_pred_by_ref():
    pred = [0, 0, 1, 2, 2, 2]
    ref = [0, 1, 1, 2, 0, 0]
    cm = confusion_matrix(pred, ref, 3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [2, 0, 1]]
    assert cm[2, 0] == 2  # predicted 2 where the truth was 0, twice
    with pytest.raises(ValueError):
        confusion_matrix([0, 3], [0, 1], 3)
    with pytest.raises(ValueError):
        confusion_matrix([0, 1], [0], 3)


def test_round_trip_from_labels_reproduces_the_study_matrix():
    pred, ref = [], []
    for i in range(6):
        for j in range(6):
            pred += [i] * STUDY_CM[i, j]
            ref += [j] * STUDY_CM[i, j]
    assert np.array_equal(confusion_matrix(np.array(pred), np.array(ref), 6), STUDY_CM)


def test_mcnemar_two_by_two_matches_r_with_continuity_correction():
    # R's ?mcnemar.test example: mcnemar.test(matrix(c(794, 86, 150, 570), nrow = 2))
    # gives McNemar's chi-squared = (|150 - 86| - 1)^2 / 236 = 16.818, df = 1, p = 4.115e-05
    s = caret_stats(np.array([[794, 150], [86, 570]]), ["a", "b"])
    assert f"{s.mcnemar_p:.3e}" == "4.115e-05"


def test_mcnemar_is_na_when_a_pair_never_confused_like_r():
    cm = np.array([[5, 1, 0], [2, 6, 1], [0, 3, 7]])  # classes 0 and 2 never swapped
    s = caret_stats(cm, ["a", "b", "c"])
    assert math.isnan(s.mcnemar_p)
    assert "Mcnemar's Test P-Value : NA" in format_caret(s)
    assert s.to_dict()["mcnemar_p"] is None


def test_perfect_classifier_and_missing_class():
    s = caret_stats(np.diag([10, 20, 0]), ["a", "b", "c"])
    assert s.accuracy == 1.0 and s.ci_high == 1.0
    assert round(s.ci_low, 4) == 0.8843  # binom.test(30, 30)$conf.int[1] = (0.025)^(1/30)
    assert s.kappa == pytest.approx(1.0)
    assert math.isnan(s.per_class["c"]["sensitivity"])  # caret's NA: no reference cases
    assert s.per_class["c"]["specificity"] == 1.0
    assert math.isnan(s.per_class["c"]["neg_pred_value"])  # caret's Bayes form: NA, not 30/30


def test_kappa_is_zero_for_chance_agreement():
    # Predictions independent of the truth: observed agreement equals the expected one.
    s = caret_stats(np.array([[25, 25], [25, 25]]), ["a", "b"])
    assert s.kappa == pytest.approx(0.0)
    assert s.p_acc_gt_nir == pytest.approx(0.5397946186935892)  # binom.test(50,100,.5,"greater")


def test_bad_matrices_are_refused():
    with pytest.raises(ValueError):
        caret_stats(np.zeros((3, 3), dtype=int), ["a", "b", "c"])
    with pytest.raises(ValueError):
        caret_stats(np.ones((2, 3), dtype=int), ["a", "b"])
    with pytest.raises(ValueError):
        caret_stats(np.ones((2, 2), dtype=int), ["a", "b", "c"])


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.327e-10, "1.327e-10"),
        (0.0123, "0.0123"),
        (0.5, "0.5"),
        (1e-4, "1e-04"),
        (0.04998, "0.04998"),
        (3.822e-09, "3.822e-09"),
        (0.00012345, "0.0001234"),
    ],
)
def test_numbers_are_formatted_like_r(value, text):
    assert format_r_number(value) == text


def test_pvalues_below_machine_epsilon_print_like_r():
    assert format_pval(0.0) == "< 2.2e-16"
    assert format_pval(1e-20) == "< 2.2e-16"
    assert format_pval(0.2) == "0.2"
    assert format_pval(float("nan")) == "NA"


# --- calibration ---------------------------------------------------------------------------


def _probs_with_confidence(conf: list[float], k: int = 4) -> np.ndarray:
    """Rows whose max probability (class 0) is `conf`, the rest spread evenly."""
    c = np.asarray(conf)[:, None]
    rest = (1.0 - c) / (k - 1)
    return np.concatenate([c, np.repeat(rest, k - 1, axis=1)], axis=1)


def test_ece_is_zero_when_confidence_equals_accuracy():
    probs = _probs_with_confidence([0.8] * 10)
    labels = np.array([0] * 8 + [1] * 2)  # right 8 times out of 10 at confidence 0.8
    assert expected_calibration_error(probs, labels) == pytest.approx(0.0, abs=1e-12)


def test_ece_of_an_overconfident_model():
    probs = _probs_with_confidence([0.95] * 10)
    labels = np.array([0] * 5 + [1] * 5)
    assert expected_calibration_error(probs, labels) == pytest.approx(0.45)


def test_ece_weights_bins_by_their_counts():
    # 6 samples at 0.9 all right (gap 0.1), 4 at 0.5 with 1 right (gap 0.25)
    probs = _probs_with_confidence([0.9] * 6 + [0.5] * 4)
    labels = np.array([0] * 6 + [0, 1, 1, 1])
    expected = 0.6 * 0.1 + 0.4 * 0.25
    assert expected_calibration_error(probs, labels) == pytest.approx(expected)


def test_reliability_table_bins_and_boundaries():
    conf = [1 / 3, 1 / 3 + 1e-9, 1.0]
    probs = _probs_with_confidence(conf)
    rows = reliability_table(probs, np.array([0, 1, 0]), bins=3)
    assert [r[2] for r in rows] == [1, 1, 1]  # 1/3 belongs to (0, 1/3]; just above it to the next
    assert rows[0][:2] == (0.0, pytest.approx(1 / 3))
    assert rows[0][4] == 1.0 and rows[1][4] == 0.0 and rows[2][4] == 1.0
    rows15 = reliability_table(probs, np.array([0, 1, 0]))
    assert len(rows15) == 15 and sum(r[2] for r in rows15) == 3
    assert all(math.isnan(r[3]) for r in rows15 if r[2] == 0)


def test_ece_refuses_mismatched_inputs():
    with pytest.raises(ValueError):
        expected_calibration_error(np.ones((3, 2)) / 2, np.array([0, 1]))
