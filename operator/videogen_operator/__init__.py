"""The videogen operator: kopf handlers that run each VideoJob as a GPU batch/v1 Job and download VideoModels.

Decisions live in pure modules (``runner_job``, ``download_job``, ``pod_building``, ``videojob_status``,
``queueing``, and ``videogen_common.model_choice``) that unit tests call directly; ``handlers`` only wires kopf
events to the reconcilers (``controller``), which read VideoJobs and VideoModels as their types
(``videogen_common.resources``).
"""
