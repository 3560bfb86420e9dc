// Thin entry point: everything lives in Cli/ClientApp.
return await Dropbox.SyncClient.Cli.ClientApp.MainAsync(args);
