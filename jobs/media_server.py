"""Serves the media library (uploaded photos and videos) read-only over HTTP.

    python -m jobs.media_server --port 8767 [--dir data/media]

Instagram and TikTok download media from a URL, so in production this (or any web
server or bucket serving the same folder) must be reachable from the internet at
OUTPOST_PUBLIC_MEDIA_URL. Only names the library gives out are served: no listing,
no paths, no other files.
"""
from __future__ import annotations

import argparse
import mimetypes

from starlette.applications import Starlette
from starlette.responses import FileResponse, PlainTextResponse
from starlette.routing import Route

from core.domain.errors import ValidationError
from core.media.library import MediaLibrary


def make_app(library: MediaLibrary) -> Starlette:
    async def serve(request):
        name = request.path_params["name"]
        try:
            path = library.path_for(name)
        except ValidationError:
            return PlainTextResponse("not found", status_code=404)
        if not path.is_file():
            return PlainTextResponse("not found", status_code=404)
        media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return FileResponse(path, media_type=media_type, headers={"Cache-Control": "public, max-age=31536000, immutable",
                                                                    "X-Content-Type-Options": "nosniff"})

    async def health(request):
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/media/{name}", serve), Route("/health", health)])


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    from core.infra.logs import configure_logging
    from core.infra.settings import Settings

    settings = Settings.from_env()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8767)
    parser.add_argument("--dir", default=str(settings.media_dir))
    args = parser.parse_args(argv)
    configure_logging(settings.log_level, json_lines=settings.log_json)
    library = MediaLibrary(args.dir, settings.public_media_url)
    print(f"http://{args.host}:{args.port}/media", flush=True)
    uvicorn.run(make_app(library), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
