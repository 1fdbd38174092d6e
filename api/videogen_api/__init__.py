"""videogen REST API: the reference video-generation API on top of VideoJob and VideoModel resources.

Never imports torch: generation happens in runner pods; this process only talks to Kubernetes and S3.
"""
