"""Application services: work shared by the portal, the notifications and the flows that
needs the database and the settings but no HTTP (signing links, writing their rows)."""
