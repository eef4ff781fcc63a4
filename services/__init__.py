"""Application services: the task lifecycle (opening, answering, the centre's review,
personal links) that needs the database and the settings but no HTTP. The portal, the
flows, the demo and the email inbox call these; nothing here imports the portal."""
