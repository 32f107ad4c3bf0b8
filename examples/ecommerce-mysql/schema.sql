-- The tables of the e-commerce example in MySQL / MariaDB. Column names keep the CSV header's
-- spelling, which the example's SQL uses.
CREATE TABLE sales (
    id            BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    InvoiceNo     VARCHAR(20) NOT NULL,
    StockCode     VARCHAR(20) NOT NULL,
    Description   TEXT NOT NULL,
    Quantity      INT NOT NULL,
    InvoiceDate   DATETIME NOT NULL,
    UnitPrice     DECIMAL(12, 2) NOT NULL,
    CustomerID    INT,
    Country       VARCHAR(64) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE customers (
    CustomerID INT NOT NULL PRIMARY KEY,
    Segment    VARCHAR(32) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
