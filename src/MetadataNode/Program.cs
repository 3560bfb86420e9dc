using Dropbox.MetadataNode;
using Dropbox.MetadataNode.Cli;

return await MetadataNodeCommandLine.RunAsync(args).ConfigureAwait(false);
