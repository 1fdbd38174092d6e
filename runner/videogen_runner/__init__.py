"""videogen runner: one VideoJob spec in, an MP4 with metadata and poster in S3 out."""
