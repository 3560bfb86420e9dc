namespace Dropbox.Testing;

/// <summary>A fresh folder per test under the system temp folder, removed (as far as it can be) on dispose.</summary>
public sealed class TempFolder : IDisposable
{
    /// <summary>Creates <c>TMP/dbx-tests/RANDOM</c>.</summary>
    public TempFolder()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "dbx-tests", Guid.NewGuid().ToString("N")[..16]);
        Directory.CreateDirectory(Path);
    }

    /// <summary>The folder's full path.</summary>
    public string Path { get; }

    /// <summary>The path of <paramref name="name"/> inside the folder, not created (a file, or a folder the code under test makes).</summary>
    public string Sub(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>The folder <paramref name="name"/> inside this one, created if missing.</summary>
    public string CreateSub(string name) => Directory.CreateDirectory(Sub(name)).FullName;

    /// <inheritdoc />
    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A process a test killed may still hold a file for a moment; the temp folder is cleaned by the OS.
        }
        catch (UnauthorizedAccessException)
        {
            // A test that made a folder read-only on purpose.
        }
    }
}
