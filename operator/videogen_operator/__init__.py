"""The videogen operator: kopf handlers that run each VideoJob as a GPU batch/v1 Job and download VideoModels.

Decisions live in pure modules (``runner_job``, ``videojob_status``, ``queueing``, ``model_resolution``,
``download_job``) that unit tests call directly; ``handlers`` only wires kopf events to the reconcilers.
"""
