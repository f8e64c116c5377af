"""Quality metrics. PSNR now; LPIPS, DISTS, MS-SSIM and FVD come with the evaluation issue."""

from dynamics_codec.metrics.psnr import mse, psnr, psnr_per_frame, psnr_y

__all__ = ["mse", "psnr", "psnr_per_frame", "psnr_y"]
