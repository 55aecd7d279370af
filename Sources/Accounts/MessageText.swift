/// Renders user-written text (a JSON key, account ID, email or path) for an error message:
/// quoted, with control and invisible characters escaped so hostile input cannot forge extra
/// log lines, and truncated so a huge value cannot flood the log.
func quotedForMessage(_ text: String, limit: Int = 64) -> String {
    var out = "\""
    var count = 0
    for scalar in text.unicodeScalars {
        if count == limit {
            out += "…"
            break
        }
        count += 1
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case _ where isInvisibleOrControl(scalar): out += "\\u{\(String(scalar.value, radix: 16))}"
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}

/// Characters that render as nothing or move the cursor: in identifiers they hide what is
/// really there, and in log output they can forge or erase lines.
func isInvisibleOrControl(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar.properties.generalCategory {
    case .control, .format, .lineSeparator, .paragraphSeparator, .surrogate, .privateUse, .unassigned:
        true
    default:
        scalar.properties.isWhitespace && scalar != " "
    }
}
