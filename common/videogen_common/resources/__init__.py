"""The typed resource model: VideoJob and VideoModel (spec, status, states, reasons) and the CRDs made from them.

Import from the modules (``resources.videojob``, ``resources.videojob_status``, ``resources.videomodel``,
``resources.objects``, ``resources.meta``); this package imports nothing itself, so that the family table
(``videogen_common.families``) and the types can import each other's modules without a cycle.
"""
