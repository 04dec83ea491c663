# PyInstaller hook for the app package: every module of it, including the ones only imported
# inside functions (the demo cloud, the self-test), which a frozen build must not lose.
from PyInstaller.utils.hooks import collect_submodules

hiddenimports = collect_submodules("app")
