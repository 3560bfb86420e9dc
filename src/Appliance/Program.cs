using Dropbox.Appliance;

return await ApplianceCommandLine.RunAsync(args).ConfigureAwait(false);
