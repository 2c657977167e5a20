using System.Buffers.Binary;
using System.Text;

namespace WorkCluster.Tests.Infrastructure;

/// <summary>
/// Just enough of the protobuf wire format to read OTLP exports: a message is a list of fields, each a number and
/// either a number (varint, fixed32, fixed64) or bytes (strings and nested messages).
/// </summary>
public readonly record struct ProtoField(int Number, ulong Value, ReadOnlyMemory<byte> Bytes)
{
    public string String => Encoding.UTF8.GetString(Bytes.Span);

    public IReadOnlyList<ProtoField> Message => Protobuf.Parse(Bytes);

    public double Double => BitConverter.Int64BitsToDouble((long)Value);
}

public static class Protobuf
{
    public static IReadOnlyList<ProtoField> Parse(ReadOnlyMemory<byte> message)
    {
        var fields = new List<ProtoField>();
        var span = message.Span;
        var position = 0;
        while (position < span.Length)
        {
            var key = ReadVarint(span, ref position);
            var number = (int)(key >> 3);
            switch (key & 7)
            {
                case 0:
                    fields.Add(new ProtoField(number, ReadVarint(span, ref position), default));
                    break;
                case 1:
                    fields.Add(new ProtoField(number, BinaryPrimitives.ReadUInt64LittleEndian(span[position..]), default));
                    position += 8;
                    break;
                case 2:
                    var length = (int)ReadVarint(span, ref position);
                    fields.Add(new ProtoField(number, 0, message.Slice(position, length)));
                    position += length;
                    break;
                case 5:
                    fields.Add(new ProtoField(number, BinaryPrimitives.ReadUInt32LittleEndian(span[position..]), default));
                    position += 4;
                    break;
                default:
                    throw new InvalidDataException($"Unsupported protobuf wire type {key & 7}.");
            }
        }
        return fields;
    }

    public static IEnumerable<ProtoField> All(this IReadOnlyList<ProtoField> fields, int number) => fields.Where(f => f.Number == number);

    public static ProtoField? One(this IReadOnlyList<ProtoField> fields, int number) =>
        fields.Where(f => f.Number == number).Select(f => (ProtoField?)f).LastOrDefault();

    private static ulong ReadVarint(ReadOnlySpan<byte> span, ref int position)
    {
        ulong value = 0;
        for (var shift = 0; ; shift += 7)
        {
            var b = span[position++];
            value |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                return value;
            }
        }
    }
}
