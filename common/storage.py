"""Static files storage for production: whitenoise's compressed manifest storage, with each
file's URL worked out once per process.

Every {% static %} looks the name up in the manifest and builds the URL again (about 15
microseconds); a page has a dozen. The manifest is read once when the process starts and does
not change while it runs (a new collectstatic comes with a restart), so the answers are kept.
"""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._urls: dict[str, str] = {}

    def url(self, name, force=False):
        if force:
            return super().url(name, force=True)
        found = self._urls.get(name)
        if found is None:
            # A name missing from the manifest raises here, as before, and is not kept.
            found = self._urls[name] = super().url(name)
        return found
