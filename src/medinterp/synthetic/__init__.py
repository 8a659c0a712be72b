"""Synthetic miniatures of BreakHis, BreCaHAD and the ISIC archives, in their published layouts.

Pictures carry a known, learnable signal (see :mod:`histology` and :mod:`dermoscopy`); the
writers reproduce folder trees, file names, formats, CSV headers, vocabularies and JSON bytes.
"""
