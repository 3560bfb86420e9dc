using System.Collections;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Dropbox.SyncClient.Cli;

/// <summary>
/// One JSON value on one line, written from the plain values the commands print (strings, numbers, booleans, null, lists,
/// dictionaries with string keys, parsed <see cref="JsonElement"/>s), with a <see cref="Utf8JsonWriter"/>: no reflection,
/// so the natively compiled client prints exactly what the JIT-compiled one does (the reflection-based serializer
/// cannot be compiled ahead of time for <c>object</c>).
/// </summary>
internal static class JsonLine
{
    /// <summary>Readable JSON for a terminal or a pipe (no HTML escaping of quotes or '+'; control characters stay escaped).</summary>
    private static readonly JsonWriterOptions Options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The value as one line of JSON.</summary>
    /// <exception cref="ArgumentException">A value of a kind JSON has no form for here (a programming error).</exception>
    public static string Of(object? value)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, Options))
        {
            Write(writer, value);
        }

        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    private static void Write(Utf8JsonWriter writer, object? value)
    {
        switch (value)
        {
            case null:
                writer.WriteNullValue();
                break;
            case string s:
                writer.WriteStringValue(s);
                break;
            case bool b:
                writer.WriteBooleanValue(b);
                break;
            case int i:
                writer.WriteNumberValue(i);
                break;
            case uint u:
                writer.WriteNumberValue(u);
                break;
            case long l:
                writer.WriteNumberValue(l);
                break;
            case ulong ul:
                writer.WriteNumberValue(ul);
                break;
            case double d:
                writer.WriteNumberValue(d);
                break;
            case JsonElement element:
                element.WriteTo(writer);
                break;
            case IDictionary dictionary:
                writer.WriteStartObject();
                foreach (DictionaryEntry entry in dictionary)
                {
                    writer.WritePropertyName(entry.Key as string ?? throw new ArgumentException($"A JSON object's key must be a string, not {entry.Key.GetType().Name}."));
                    Write(writer, entry.Value);
                }

                writer.WriteEndObject();
                break;
            case IEnumerable list:
                writer.WriteStartArray();
                foreach (var item in list)
                {
                    Write(writer, item);
                }

                writer.WriteEndArray();
                break;
            default:
                throw new ArgumentException($"No JSON form for a {value.GetType().Name}.", nameof(value));
        }
    }
}
