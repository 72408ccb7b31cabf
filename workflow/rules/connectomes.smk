# Rules of the connectomes stage.
