// (module schedule: sources arrive with its issue)
