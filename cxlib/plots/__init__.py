"""Plotting functions (seaborn style: ``data=``, ``ax=``, return the Axes), one module per question.

The house style lives in :mod:`cxlib.plots.style`.
"""

from cxlib.plots.style import PALETTE, TRAFFIC_LIGHT, set_house_style, traffic_light

__all__ = ["PALETTE", "TRAFFIC_LIGHT", "set_house_style", "traffic_light"]
