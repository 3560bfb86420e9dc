// Placeholder until the MetadataNode issue lands: the host is wired in Program.cs only.
Console.Error.WriteLine("MetadataNode: not implemented yet.");
return 1;
