"""The quarterly batch: one papermill run per account on warm kernels, the manifest and the KAM's index."""
