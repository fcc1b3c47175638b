"""Photos: which files are photos and how they are opened (JPEG…, HEIC/AVIF, RAW previews, EXIF
orientation, draft decoding, listing folders), content fingerprints, and the words an OSError
is shown in. The bottom room: imports nothing of `app` but the top-level facts.
"""
