"""Hand-computed cases of the SKAB and NAB scorers (no data needed).

    /usr/bin/python3 -m unittest discover -s python/eval -p 'test_*.py'
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nab  # noqa: E402
import skabmetrics  # noqa: E402


class SKAB(unittest.TestCase):
    def test_binary(self):
        r = skabmetrics.binary([([1, 1, 0, 0], [1, 0, 1, 0])])
        self.assertEqual((r["F1"], r["FAR"], r["MAR"]), (0.5, 50.0, 50.0))

    def nab_standard(self, pred_rows):
        times = list(range(200))
        cp = [1 if t == 100 else 0 for t in times]
        pred = [1 if t in pred_rows else 0 for t in times]
        return skabmetrics.nab([(times, cp, pred)], 60.0)["Standard"]

    def test_nab(self):
        self.assertEqual(self.nab_standard({100}), 100.0)  # at the change point: A_tp
        self.assertEqual(self.nab_standard(set()), 0.0)  # the null detector
        self.assertEqual(self.nab_standard({160}), 44.5)  # the window's end: A_fp
        self.assertEqual(self.nab_standard({10}), -5.5)  # one false alarm and a miss
        self.assertEqual(self.nab_standard({100, 120, 130}), 100.0)  # only the first counts

    def test_windows_cut(self):
        w = skabmetrics.windows([0, 30, 100], [1, 1, 0], 60.0)
        self.assertEqual(w, [[0, 60], [60, 90]])

    def test_auc(self):
        self.assertEqual(skabmetrics.auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]), 0.75)
        self.assertEqual(skabmetrics.auc([1, 1, 1, 1], [0, 0, 1, 1]), 0.5)


class NAB(unittest.TestCase):
    def standard(self, detections):
        times = list(range(100))
        rows = nab.sweep(times, [(50, 59)])
        det = [1 if i in detections else 0 for i in times]
        return nab.normalised([rows], [det])["standard"]

    def test_score(self):
        self.assertEqual(self.standard({50}), 100.0)  # the window's first row
        self.assertEqual(self.standard(set()), 0.0)
        self.assertEqual(self.standard({20}), -5.5)  # no window before it: fp · −1, and a miss
        self.assertEqual(self.standard({5}), 0.0)  # probationary rows are not scored
        # the window's last row: S(−0.1)/S(−1) = 0.2482, normalised (0.2482 + 1)/2
        self.assertEqual(self.standard({59}), 62.41)
        # right after the window the false alarm costs about the whole fp weight
        self.assertLess(self.standard({50, 60}), 100.0)


if __name__ == "__main__":
    unittest.main()
