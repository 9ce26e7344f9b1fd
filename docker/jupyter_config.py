# docker/jupyter_config.py: the image's Jupyter server defaults (installed as jupyter_{notebook,server}_config.py).
# Must not know about JupyterHub or Kubernetes; a hub or site config loaded later may override any of it.
c = get_config()  # noqa: F821 (provided by Jupyter's config loader)
c.MappingKernelManager.default_kernel_name = "ripple"
